"""Text generation with a Hugging Face ``transformers`` causal language model."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from ..errors import AudioDissectError
from .base import chat_messages, check_params

#: Tokens generated when the caller gives no max_tokens.
DEFAULT_MAX_TOKENS = 256


class TransformersLLM:
    """A causal LM from the Hugging Face hub or a local folder, run with ``generate``.

    Prompts are wrapped in the tokenizer's chat template when it has one
    (instruction-tuned models), else the system prompt and the prompt are
    joined by a blank line. Prompts are generated in left-padded batches;
    temperature 0 or None means greedy decoding, otherwise sampling with
    ``torch.manual_seed(seed)`` set first when a seed is given.

    Parameters
    ----------
    model : str
        A hub id (needs the internet the first time) or a local folder.
    device : str, optional
        ``"cuda"``, ``"cpu"``, ...; by default CUDA when available.
    dtype : str, optional
        ``"float16"``, ``"bfloat16"`` or ``"float32"``; by default float16 on
        CUDA and float32 on CPU.
    batch_size : int
        Prompts generated together.
    """

    def __init__(self, model: str | os.PathLike, *, device: str | None = None, dtype: str | None = None,
                 batch_size: int = 8):
        self.model_id = str(model)
        self.device = device
        self.dtype = dtype
        self.batch_size = max(1, int(batch_size))
        self.name = f"transformers:{self.model_id}"
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            dtype_name = self.dtype or ("float16" if device.startswith("cuda") else "float32")
            try:
                tokenizer = AutoTokenizer.from_pretrained(self.model_id)
                model = AutoModelForCausalLM.from_pretrained(self.model_id, dtype=getattr(torch, dtype_name))
            except OSError as exc:
                raise AudioDissectError(
                    f"cannot load the transformers model {self.model_id!r}: {exc}".split("\n")[0],
                    hint="give a local folder, or a hub id with the internet available") from exc
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                if tokenizer.eos_token is None:
                    raise AudioDissectError(f"the tokenizer of {self.model_id!r} has neither a pad nor an eos token")
                tokenizer.pad_token = tokenizer.eos_token
            model.to(device).eval()
            self._model, self._tokenizer, self._device = model, tokenizer, device
        return self._model, self._tokenizer

    def render(self, prompt: str, *, system: str | None = None) -> str:
        """The text fed to the model for one prompt (chat template applied when there is one)."""
        _, tokenizer = self._load()
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(chat_messages(prompt, system=system), tokenize=False,
                                                 add_generation_prompt=True)
        return f"{system}\n\n{prompt}" if system else prompt

    def complete(self, prompts: Sequence[str], **params: Any) -> list[str]:
        """One answer per prompt; see :class:`~audiodissect.llm.base.LLM`."""
        import torch

        p = check_params(params)
        with self._lock:
            model, tokenizer = self._load()
            texts = [self.render(prompt, system=p["system"]) for prompt in prompts]
            temperature = float(p["temperature"] or 0.0)
            options: dict[str, Any] = {
                "max_new_tokens": int(p["max_tokens"] or DEFAULT_MAX_TOKENS),
                "pad_token_id": tokenizer.pad_token_id,
                "do_sample": temperature > 0,
            }
            if temperature > 0:
                options["temperature"] = temperature
            else:  # silence warnings about sampling settings in the model's generation config
                options.update(temperature=None, top_p=None, top_k=None)
            if p["seed"] is not None:
                torch.manual_seed(int(p["seed"]))
            answers: list[str] = []
            for start in range(0, len(texts), self.batch_size):
                batch = tokenizer(texts[start:start + self.batch_size], return_tensors="pt", padding=True,
                                  add_special_tokens=not getattr(tokenizer, "chat_template", None))
                batch = {k: v.to(self._device) for k, v in batch.items()}
                with torch.inference_mode():
                    out = model.generate(**batch, **options)
                new_tokens = out[:, batch["input_ids"].shape[1]:]
                answers += [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
            return answers

    def __repr__(self) -> str:
        return f"TransformersLLM(model={self.model_id!r})"
