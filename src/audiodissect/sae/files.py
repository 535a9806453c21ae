"""SAELens's file format: a folder with ``cfg.json`` and ``sae_weights.safetensors``.

``cfg.json`` (SAELens 6.x inference config)::

    {"architecture": "topk", "d_in": 128, "d_sae": 512, "k": 8, "dtype": "float32", "device": "cpu",
     "apply_b_dec_to_input": true, "normalize_activations": "none", "reshape_activations": "none",
     "rescale_acts_by_decoder_norm": false,
     "metadata": {"sae_lens_version": "6.0.0", "model_name": "demo-cnn", "hook_name": "fc",
                  "audiodissect": {"layer": "fc", "pool": "mean", "level": "clip", ...}}}

``sae_weights.safetensors`` holds ``W_enc`` (d_in, d_sae), ``b_enc`` (d_sae),
``W_dec`` (d_sae, d_in), ``b_dec`` (d_in) and, for ``jumprelu``, ``threshold``
(d_sae). ``metadata.sae_lens_version`` says which generation of the format the
file follows (SAELens reads files without it, or with a version before 6, as
its older format). BatchTopK SAEs are written as ``jumprelu`` with one global
threshold, as SAELens does; a ``batchtopk`` training config with a
``topk_threshold`` (or ``threshold``) is read the same way.

Written with the ``safetensors`` package (a dependency of transformers), not
with SAELens itself, whose install pulls transformer-lens, datasets, plotly
and more.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ..cache import atomic_path
from ..errors import AudioDissectError
from .model import ARCHITECTURES, SaeSpec, SparseAutoencoder

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
#: The SAELens format generation our files follow (what ``metadata.sae_lens_version`` says).
FORMAT_VERSION = "6.0.0"
#: Our own facts about an SAE live under this key of ``metadata``.
OWN_KEY = "audiodissect"


def sae_config(sae: SparseAutoencoder) -> dict[str, Any]:
    """The SAELens ``cfg.json`` of `sae` as plain data."""
    spec = sae.spec
    metadata = {"sae_lens_version": FORMAT_VERSION, "sae_lens_training_version": None, **spec.metadata}
    cfg: dict[str, Any] = {
        "architecture": spec.architecture, "d_in": sae.d_in, "d_sae": sae.d_sae, "dtype": "float32",
        "device": "cpu", "apply_b_dec_to_input": bool(spec.apply_b_dec_to_input),
        "normalize_activations": spec.normalize_activations, "reshape_activations": "none",
        "metadata": metadata,
    }
    if spec.architecture == "topk":
        cfg["k"] = int(spec.k)  # type: ignore[arg-type]
        cfg["rescale_acts_by_decoder_norm"] = bool(spec.rescale_acts_by_decoder_norm)
    return cfg


def save_sae(sae: SparseAutoencoder, folder: str | os.PathLike) -> Path:
    """Write `sae` to `folder` in SAELens's format (both files atomically); returns the folder.

    Parameters
    ----------
    sae : SparseAutoencoder
    folder : path
        Created when missing; existing ``cfg.json`` and weights are replaced.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().to("cpu", torch.float32).contiguous() for name, t in sae.weights().items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    with atomic_path(folder / CFG_FILE) as tmp:
        tmp.write_text(json.dumps(sae_config(sae), indent=2) + "\n", encoding="utf-8")
    return folder


def read_sae_config(folder: str | os.PathLike) -> dict[str, Any]:
    """The ``cfg.json`` of an SAE folder, or an error saying what the folder lacks."""
    folder = Path(folder)
    path = folder / CFG_FILE
    if not folder.is_dir():
        raise AudioDissectError(f"no SAE folder at {folder}",
                                hint=f"give a folder holding {CFG_FILE} and {WEIGHTS_FILE} (SAELens's format)")
    if not path.is_file():
        raise AudioDissectError(f"{folder} has no {CFG_FILE}", hint="an SAE folder holds cfg.json and "
                                                                      f"{WEIGHTS_FILE} (SAELens's format)")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise AudioDissectError(f"cannot parse {path}: {exc}") from None
    if not isinstance(cfg, dict):
        raise AudioDissectError(f"{path} is not a JSON object")
    return cfg


def spec_from_config(cfg: dict[str, Any], *, where: str = "cfg.json") -> tuple[SaeSpec, str]:
    """(the :class:`SaeSpec`, the stored architecture) of a SAELens config dict.

    Older SAELens configs (before 6.0) name the architecture by ``activation_fn``
    (``"topk"`` with ``activation_fn_kwargs.k``) and keep the metadata at the top level.
    """
    for key in ("d_in", "d_sae"):
        if not isinstance(cfg.get(key), int) or isinstance(cfg.get(key), bool):
            raise AudioDissectError(f"{where} lacks an integer {key!r}")
    stored = str(cfg.get("architecture") or "standard")
    k = cfg.get("k")
    if stored == "standard" and cfg.get("activation_fn") == "topk":  # the pre-6.0 spelling
        stored, k = "topk", (cfg.get("activation_fn_kwargs") or {}).get("k")
    if cfg.get("reshape_activations", "none") not in (None, "none"):
        raise AudioDissectError(f"{where}: reshape_activations={cfg['reshape_activations']!r} SAEs read attention "
                                "heads of language models, not an audio layer's units")
    if cfg.get("finetuning_scaling_factor"):
        raise AudioDissectError(f"{where}: SAEs with a finetuning scaling factor are not supported")
    architecture = "jumprelu" if stored == "batchtopk" else stored
    if architecture not in ARCHITECTURES:
        raise AudioDissectError(f"{where}: SAE architecture {stored!r} is not supported",
                                hint="supported: " + ", ".join(ARCHITECTURES) + " and batchtopk (read as jumprelu)")
    metadata = cfg.get("metadata", cfg.get("meta"))
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    flags = {}
    for key, default in (("apply_b_dec_to_input", True), ("rescale_acts_by_decoder_norm", False)):
        flags[key] = cfg.get(key, default)
        if not isinstance(flags[key], bool):  # bool("false") would be True
            raise AudioDissectError(f"{where}: {key} is {flags[key]!r}, not true or false")
    whole_k = isinstance(k, int) and not isinstance(k, bool) or isinstance(k, float) and k.is_integer()
    spec = SaeSpec(d_in=int(cfg["d_in"]), d_sae=int(cfg["d_sae"]), architecture=architecture,
                   k=int(k) if architecture == "topk" and whole_k else None,
                   normalize_activations=str(cfg.get("normalize_activations") or "none"),
                   metadata=metadata, **flags)
    try:
        spec.check()
    except AudioDissectError as exc:
        raise AudioDissectError(f"{where}: {exc.message}", hint=exc.hint) from None
    return spec, stored


def load_sae(folder: str | os.PathLike, *, device: str | torch.device | None = None) -> SparseAutoencoder:
    """Read an SAE written in SAELens's format (by :func:`save_sae`, SAELens, or anyone else).

    Parameters
    ----------
    folder : path
        Holds ``cfg.json`` and ``sae_weights.safetensors``.
    device : str or torch.device, optional
        Where the weights go (default: CPU); they are held as float32.

    Returns
    -------
    SparseAutoencoder

    Raises
    ------
    AudioDissectError
        For a missing file, an unsupported architecture or normalisation, or
        weights whose names or shapes do not fit the config.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg = read_sae_config(folder)
    spec, stored = spec_from_config(cfg, where=str(folder / CFG_FILE))
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise AudioDissectError(f"{folder} has no {WEIGHTS_FILE}")
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise AudioDissectError(f"cannot read {path}: {exc}") from None
    if stored == "batchtopk":  # a training checkpoint: its scalar threshold becomes JumpReLU's per-latent one
        scalar = tensors.pop("topk_threshold", None)
        if "threshold" not in tensors:
            if scalar is None:
                raise AudioDissectError(f"{path}: a batchtopk SAE needs its topk_threshold or threshold")
            if scalar.numel() != 1:
                raise AudioDissectError(f"{path}: topk_threshold has {scalar.numel()} values, not one")
            tensors["threshold"] = torch.full((spec.d_sae,), float(scalar))
    # the file's tensors must have the shapes cfg.json gives before the SAE is built: a crafted d_sae must not
    # allocate what the file does not hold
    shapes = spec.shapes()
    missing, extra = sorted(set(shapes) - set(tensors)), sorted(set(tensors) - set(shapes))
    if missing or extra:
        raise AudioDissectError(f"{path}: {spec.architecture} SAE weights: missing {missing or 'none'}, "
                                f"unexpected {extra or 'none'}")
    wrong = [f"{name} {tuple(tensors[name].shape)} (cfg.json: {shape})" for name, shape in shapes.items()
             if name in tensors and tuple(tensors[name].shape) != shape]
    if wrong:
        raise AudioDissectError(f"{path}: tensors have other shapes than {CFG_FILE} gives: " + "; ".join(wrong),
                                hint=f"the {CFG_FILE} does not belong to these weights")
    tensors = {name: t.float() for name, t in tensors.items()}
    bad = [name for name, t in tensors.items() if not bool(torch.isfinite(t).all())]
    if bad:
        raise AudioDissectError(f"{path}: NaN or infinite values in {', '.join(sorted(bad))}",
                                hint="the SAE's weights are damaged or its training diverged: train it again")
    sae = SparseAutoencoder(spec)
    try:
        sae.load_weights(tensors)
    except AudioDissectError as exc:
        raise AudioDissectError(f"{path}: {exc.message}", hint=exc.hint) from None
    sae.requires_grad_(False)
    if device is not None:
        sae.to(device)
    return sae
