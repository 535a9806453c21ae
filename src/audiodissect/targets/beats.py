"""BEATs checkpoints as targets: ``load_target("beats:/path/to/BEATs_iter3_plus_AS2M_finetuned.pt")``.

Supported file: the released BEATs checkpoints, unchanged: a torch file
holding a dict with

- ``"cfg"``: a dict of ``BEATsConfig`` fields (:class:`~.beats_config.BEATsConfig`);
- ``"model"``: the network's state dict under the release's key names
  (``patch_embedding.weight``, ``layer_norm.*``, ``post_extract_proj.*``,
  ``encoder.pos_conv.0.weight_g`` / ``weight_v`` / ``bias``,
  ``encoder.layers.N.self_attn.{q,k,v,out}_proj.*``,
  ``encoder.layers.N.self_attn.relative_attention_bias.weight``,
  ``encoder.layers.N.self_attn.grep_linear.*``, ``...grep_a``,
  ``encoder.layers.N.{self_attn_layer_norm,fc1,fc2,final_layer_norm}.*``,
  ``encoder.layer_norm.*`` and, when fine-tuned, ``predictor.*``);
- optionally ``"label_dict"``: class index -> label (AudioSet machine ids
  such as ``"/m/09x0r"`` in the AudioSet fine-tuned checkpoints), a dict or a list.

It is read with ``torch.load(..., weights_only=True)``: a file that needs
arbitrary Python objects to unpickle is refused. Class names are the
``label_dict`` values, mapped to display names through an optional class map
CSV (``class_map=``; AudioSet's ``class_labels_indices.csv`` has the columns
``index,mid,display_name``).
"""

from __future__ import annotations

import csv
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import AudioDissectError
from ..layers import layer_predicate, resolve_layers
from .base import Target, check_weights
from .beats_config import BEATsConfig
from .beats_fbank import MIN_SAMPLES, PATCH_FRAMES, SAMPLE_RATE, fbank_batch
from .beats_model import BEATs

#: Layer patterns dissected by default (the paper's BEATs layers), plus ``predictor`` when present.
DEFAULT_LAYERS = ("encoder.layers.*.fc1", "encoder.layers.*.fc2")
_SHOWN = 5


def beats_preprocess(waveforms: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
    """Waveforms (list of (T_i,) float32 at 16 kHz) to the network's inputs.

    Returns ``{"fbank": (B, F, 128) float32, "padding_mask": (B, F) bool}``:
    the normalised filterbanks, padded to the longest clip, and True on the
    padding frames (see :func:`.beats_fbank.fbank_batch`; a clip shorter than
    one 16-frame patch is zero-padded to it).
    """
    fbank, padding_mask = fbank_batch(waveforms)
    return {"fbank": torch.from_numpy(fbank), "padding_mask": torch.from_numpy(padding_mask)}


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, read with ``weights_only=True``.

    Raises
    ------
    AudioDissectError
        For a missing file, a file torch cannot read, one that needs arbitrary
        objects to unpickle, or one that is not a dict with ``cfg`` and ``model``.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise AudioDissectError(f"no BEATs checkpoint at {path}",
                                hint="pass the path of a released BEATs .pt file: beats:/path/to/BEATs.pt")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()
        raise AudioDissectError(
            f"{path} holds objects other than tensors and plain containers, which are not loaded "
            f"for safety (weights_only=True){': ' + first[0] if first else ''}",
            hint="save {'cfg': dict, 'model': state_dict, 'label_dict': ...} with torch.save") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise AudioDissectError(f"cannot read {path} as a torch checkpoint: {exc}") from None
    if not isinstance(checkpoint, Mapping) or "model" not in checkpoint or "cfg" not in checkpoint:
        keys = sorted(map(str, checkpoint)) if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise AudioDissectError(f"{path} is not a BEATs checkpoint (found {keys})",
                                hint="a BEATs checkpoint is a dict with 'cfg' and 'model' (and 'label_dict')")
    if not isinstance(checkpoint["model"], Mapping):
        raise AudioDissectError(f"{path}: 'model' is a {type(checkpoint['model']).__name__}, not a state dict")
    return dict(checkpoint)


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(sorted(names)[:_SHOWN])
    return f"{len(names)} ({shown}{', ...' if len(names) > _SHOWN else ''})"


def check_state_dict(model: torch.nn.Module, state: Mapping[str, Any], *, where: str) -> None:
    """Raise :class:`AudioDissectError` naming missing, unexpected or mis-shaped keys of `state`."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if problems:
        raise AudioDissectError(
            f"{where} does not match the BEATs network its cfg describes; " + "; ".join(problems),
            hint="the checkpoint must hold the release's state dict under 'model' and the matching 'cfg'")
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if not isinstance(state[k], torch.Tensor) or state[k].shape != v.shape]
    if wrong:
        raise AudioDissectError(
            f"{where}: {len(wrong)} tensors have shapes other than the cfg gives (checkpoint vs cfg): "
            + "; ".join(wrong[:_SHOWN]) + ("; ..." if len(wrong) > _SHOWN else ""),
            hint="the 'cfg' does not belong to these weights")


def build_beats(checkpoint: Mapping[str, Any], *, where: str = "the checkpoint") -> BEATs:
    """The network of a checkpoint dict (``cfg`` and ``model``), weights loaded, in eval mode."""
    config = BEATsConfig.from_dict(checkpoint.get("cfg"), where=where)
    model = BEATs(config)
    check_state_dict(model, checkpoint["model"], where=where)
    model.load_state_dict(checkpoint["model"])
    check_weights(model, where=where)
    return model.eval()


def read_class_map(path: str | Path) -> dict[str, str]:
    """``{label: display name}`` from a CSV with a header.

    The label column is ``mid`` (AudioSet's ``class_labels_indices.csv``),
    else ``id``, else the first column; the name column is ``display_name``,
    else ``name``, else the last column.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise AudioDissectError(f"no class map CSV at {path}",
                                hint="e.g. AudioSet's class_labels_indices.csv (index,mid,display_name)")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2 or len(rows[0]) < 2:
        raise AudioDissectError(f"{path} needs a header and rows of at least two columns (label, name)")
    header = [h.strip() for h in rows[0]]
    key = next((header.index(c) for c in ("mid", "id") if c in header), 0)
    name = next((header.index(c) for c in ("display_name", "name") if c in header), len(header) - 1)
    return {row[key].strip(): row[name].strip() for row in rows[1:] if len(row) > max(key, name)}


def class_names(label_dict: Any, n_classes: int, *, class_map: str | Path | None = None,
                where: str = "the checkpoint") -> list[str]:
    """Class names in logit order from a checkpoint's ``label_dict`` (dict index -> label, or list).

    Labels found in `class_map` become their display names; others stay as they are.
    """
    if isinstance(label_dict, Mapping):
        try:
            labels = {int(k): str(v) for k, v in label_dict.items()}
        except (TypeError, ValueError):
            raise AudioDissectError(f"{where}: label_dict keys must be class indices") from None
    elif isinstance(label_dict, (list, tuple)):
        labels = dict(enumerate(map(str, label_dict)))
    else:
        raise AudioDissectError(f"{where}: label_dict is a {type(label_dict).__name__}, expected a dict or list")
    if sorted(labels) != list(range(n_classes)):
        raise AudioDissectError(f"{where}: label_dict has {len(labels)} entries for classes "
                                f"{min(labels, default=0)}..{max(labels, default=-1)}, "
                                f"but the predictor has {n_classes} classes")
    names = [labels[i] for i in range(n_classes)]
    if class_map is not None:
        display = read_class_map(class_map)
        names = [display.get(label, label) for label in names]
    return names


def beats_target(path: str | Path, *, device: str | None = None,
                 class_map: str | Path | None = None) -> Target:
    """A BEATs checkpoint as a :class:`Target`.

    Parameters
    ----------
    path : str or Path
        A released BEATs checkpoint (see the module docstring for the format).
    device : str, optional
    class_map : str or Path, optional
        CSV mapping the ``label_dict`` labels to display names (AudioSet's
        ``class_labels_indices.csv``).

    Returns
    -------
    Target
        ``name="beats:<path>"``, 16 kHz, inputs ``{"fbank", "padding_mask"}``,
        logits (B, predictor_class) for a fine-tuned checkpoint (the mean over
        tokens before the release's sigmoid) or the mean encoder output
        (B, encoder_embed_dim) for a pre-trained one; default layers every
        block's ``fc1`` and ``fc2``, and ``predictor`` when present.
    """
    where = str(path)
    checkpoint = read_checkpoint(path)
    model = build_beats(checkpoint, where=where)
    if device:
        model = model.to(device)
    names = None
    if model.predictor is not None and checkpoint.get("label_dict") is not None:
        names = class_names(checkpoint["label_dict"], model.config.predictor_class,
                            class_map=class_map, where=where)
    elif class_map is not None:
        raise AudioDissectError(f"{where} has no class labels (label_dict) for the class map to name",
                                hint="drop class_map, or use a fine-tuned checkpoint with a label_dict")
    patterns = list(DEFAULT_LAYERS) + (["predictor"] if model.predictor is not None else [])
    if model.config.input_patch_size != PATCH_FRAMES:
        raise AudioDissectError(f"{where}: input_patch_size {model.config.input_patch_size} is not the "
                                f"release's {PATCH_FRAMES}, which the front end pads short clips to")
    return Target(name=f"beats:{path}", module=model, sample_rate=SAMPLE_RATE,
                  preprocess=beats_preprocess, class_names=names, min_samples=MIN_SAMPLES,  # one patch, as padded
                  default_layers=list(resolve_layers(model, layer_predicate(patterns))))  # module order
