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
``index,mid,display_name``), or given with ``class_names=`` (a list, or a file
of one name per line, or of ``name<TAB>index`` lines).

Also read: a bare state dict with its config in a separate file
(``config=``), as the AND paper's authors saved their fine-tuned BEATs: the
release's keys under ``beats.`` and a linear head ``fc.weight``/``fc.bias``
applied to every token, its outputs averaged over the tokens (the same as the
release's ``predictor``). The config file is a JSON file, a pickled plain dict
(``cfg.pkl``; read without running any pickled code: a pickle that names a
Python class is refused) or a released BEATs checkpoint whose ``cfg`` the
model was fine-tuned from. The head becomes the network's ``predictor``
(``fc`` -> ``predictor``, ``beats.encoder.layers.N.fc1`` ->
``encoder.layers.N.fc1``). :func:`convert_checkpoint` (``audiodissect convert
beats``) writes such a file in the official format.
"""

from __future__ import annotations

import csv
import io
import json
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


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message opens with advice to load the file with weights_only=False, which is never
        # followed here: only its line naming what was refused is quoted
        detail = _unpickling_detail(str(exc))
        raise AudioDissectError(
            f"{path} holds objects other than tensors and plain containers, or is no torch file; it is not "
            "loaded, for safety (torch.load with weights_only=True reads only tensors and plain data)"
            + (f": {detail}" if detail else ""),
            hint="save {'cfg': dict, 'model': state_dict, 'label_dict': ...} with torch.save") from None
    except (RuntimeError, EOFError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, EOFError):
            reason = "the file ends too early (it is empty or cut short)"
        raise AudioDissectError(f"cannot read {path} as a torch checkpoint: {reason}") from None


def _unpickling_detail(message: str) -> str:
    """What torch's weights-only refusal refused (``it names the Python object posix.system``), without its
    advice to load the file some other way and its terminal escapes."""
    import re

    named = re.search(r"GLOBAL ([\w.]+)", message)
    if named:
        return f"it names the Python object {named.group(1)}"
    operand = re.search(r"Unsupported operand (\d+)", message)
    return f"unsupported pickle operation {operand.group(1)}" if operand else ""


def _tensor_keys(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def read_checkpoint(path: str | Path, *, config: str | Path | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint dict (``cfg``, ``model``, optionally ``label_dict``), read with ``weights_only=True``.

    Parameters
    ----------
    path : path
        A released BEATs checkpoint, or a bare state dict (the paper authors' layout:
        ``beats.*`` and ``fc.*`` keys) whose config `config` gives.
    config : path or dict, optional
        The config of a bare state dict (:func:`read_config`); for a released
        checkpoint it replaces the file's ``cfg``.

    Raises
    ------
    AudioDissectError
        For a missing file, a file torch cannot read, one that needs arbitrary
        objects to unpickle, or one that is neither a dict with ``cfg`` and
        ``model`` nor a state dict (then with a config).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise AudioDissectError(f"no BEATs checkpoint at {path}",
                                hint="pass the path of a released BEATs .pt file: beats:/path/to/BEATs.pt")
    checkpoint = _torch_load(path)
    if _tensor_keys(checkpoint) and not {"cfg", "model"} <= set(checkpoint):
        if config is None:
            prefixed = any(str(k).startswith("beats.") for k in checkpoint)
            raise AudioDissectError(
                f"{path} is a bare state dict ({len(checkpoint)} tensors"
                f"{', with beats.* and fc.* keys as the AND paper authors saved their fine-tuned BEATs' if prefixed else ''}"
                "): its BEATs config is in another file",
                hint="pass that file: --model-option config=cfg.pkl (or a JSON file, or the released BEATs "
                     "checkpoint it was fine-tuned from); or convert it once: audiodissect convert beats "
                     f"{path} --config cfg.pkl --out beats_official.pt")
        return from_state_dict(checkpoint, read_config(config), where=str(path))
    if not isinstance(checkpoint, Mapping) or "model" not in checkpoint or "cfg" not in checkpoint:
        keys = sorted(map(str, checkpoint)) if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        found = _listing(keys) if isinstance(keys, list) else keys
        raise AudioDissectError(f"{path} is not a BEATs checkpoint (found {found})",
                                hint="a BEATs checkpoint is a dict with 'cfg' and 'model' (and 'label_dict'), or a "
                                     "state dict whose config is given with --model-option config=FILE")
    if not isinstance(checkpoint["model"], Mapping):
        raise AudioDissectError(f"{path}: 'model' is a {type(checkpoint['model']).__name__}, not a state dict")
    checkpoint = dict(checkpoint)
    if config is not None:
        checkpoint["cfg"] = read_config(config)
    return checkpoint


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles plain data only (dicts, lists, strings, numbers, booleans, None): a pickle that names any Python
    class or function is refused, so reading it runs no code."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"it names the Python object {module}.{name}")


def read_config(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A BEATs config dict from a dict, a JSON file, a pickled plain dict (``cfg.pkl``), or a torch file (a
    released checkpoint's ``cfg``, or the dict itself).

    Raises
    ------
    AudioDissectError
        For a missing or unreadable file, or one that holds no config dict.
    """
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise AudioDissectError(f"no BEATs config file at {path}")
        raw = path.read_bytes()
        if path.suffix.lower() == ".json" or raw.lstrip()[:1] == b"{":
            try:
                data = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise AudioDissectError(f"cannot read {path} as JSON: {exc}") from None
        elif raw[:2] == b"PK":  # a torch file (a zip)
            data = _torch_load(path)
        else:
            try:
                data = _PlainUnpickler(io.BytesIO(raw)).load()
            except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
                raise AudioDissectError(f"{path} is not a pickled plain dict ({exc}): such a config is not read, "
                                        "for safety", hint="save the config as JSON: json.dump(dict(cfg), f)") from None
    if isinstance(data, Mapping) and isinstance(data.get("cfg"), Mapping):
        data = data["cfg"]  # a released checkpoint, or {"cfg": ...}
    if not isinstance(data, Mapping) or not data:
        raise AudioDissectError(f"{source} holds no BEATs config dict (found {type(data).__name__})",
                                hint="a dict of BEATsConfig fields (encoder_layers, encoder_embed_dim, ...)")
    return {str(k): v for k, v in data.items()}


def from_state_dict(state: Mapping[str, Any], cfg: Mapping[str, Any], *, where: str = "the state dict"
                    ) -> dict[str, Any]:
    """The official checkpoint dict (``cfg``, ``model``) of a bare state dict and its config.

    Keys under ``beats.`` lose the prefix (the AND paper authors' wrapper); a
    linear head ``fc.weight``/``fc.bias`` (applied to every token, averaged
    over the tokens, as the release's predictor) becomes ``predictor.*``, and
    the config is set to a fine-tuned network of that many classes.
    """
    model: dict[str, Any] = {}
    head: dict[str, Any] = {}
    for key, value in state.items():
        key = str(key)
        if key.startswith("fc."):
            head[key[3:]] = value
        else:
            model[key[len("beats."):] if key.startswith("beats.") else key] = value
    cfg = dict(cfg)
    if head:
        if set(head) != {"weight", "bias"} or head["weight"].ndim != 2:
            raise AudioDissectError(f"{where}: the head fc.* must be one linear layer (fc.weight, fc.bias), found "
                                    f"{', '.join('fc.' + k for k in sorted(head))}")
        if "predictor.weight" in model:
            raise AudioDissectError(f"{where} holds both a release predictor and a head fc.*: which one gives the "
                                    "logits is unclear", hint="drop one of them from the state dict")
        model["predictor.weight"], model["predictor.bias"] = head["weight"], head["bias"]
        cfg["finetuned_model"] = True
        cfg["predictor_class"] = int(head["weight"].shape[0])
    elif "predictor.weight" in model:
        cfg["finetuned_model"] = True
        cfg["predictor_class"] = int(model["predictor.weight"].shape[0])
    else:
        cfg["finetuned_model"] = False
    return {"cfg": cfg, "model": model}


def read_class_names(source: str | Path | Sequence[str]) -> list[str]:
    """Class names in logit order from a list, or a text file of one name per line, or of ``name<TAB>index``
    lines (the AND paper's ``network_class`` files), put in index order."""
    if not isinstance(source, (str, Path)):
        return [str(name) for name in source]
    path = Path(source).expanduser()
    if not path.is_file():
        raise AudioDissectError(f"no class-name file at {path}",
                                hint="one class name per line in logit order, or 'name<TAB>index' lines")
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise AudioDissectError(f"cannot read the class-name file {path}: {exc}",
                                hint="save it as UTF-8 text, one class name per line") from None
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if lines and all("\t" in line for line in lines):
        pairs = []
        for line in lines:
            name, _, index = line.rpartition("\t")
            if not index.strip().isdigit():
                raise AudioDissectError(f"{path}: {line!r} is not 'name<TAB>index'")
            pairs.append((int(index), name.strip()))
        if sorted(i for i, _ in pairs) != list(range(len(pairs))):
            raise AudioDissectError(f"{path}: the indices are not 0..{len(pairs) - 1}, each once")
        return [name for _, name in sorted(pairs)]
    return [line.strip() for line in lines]


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
    import re

    config = BEATsConfig.from_dict(checkpoint.get("cfg"), where=where)
    state = checkpoint["model"]
    held = {m.group(1) for key in state for m in [re.search(r"(?:^|\.)layers\.(\d+)\.", str(key))] if m}
    if config.encoder_layers > len(held):  # checked before even an empty network of that depth is built
        raise AudioDissectError(f"{where}: the cfg gives {config.encoder_layers} encoder layers, the weights hold "
                                f"{len(held)}", hint="the 'cfg' does not belong to these weights")
    with torch.device("meta"):  # the cfg's sizes are checked against the weights before any memory is taken
        skeleton = BEATs(config)
    check_state_dict(skeleton, state, where=where)
    model = BEATs(config)
    model.load_state_dict(state)
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
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, OSError, csv.Error) as exc:
        raise AudioDissectError(f"cannot read the class map {path}: {exc}",
                                hint="a UTF-8 CSV with a header, e.g. index,mid,display_name") from None
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


#: :func:`class_names` under a name that :func:`beats_target`'s `class_names` argument does not hide.
label_names = class_names


def beats_target(path: str | Path, *, device: str | None = None,
                 class_map: str | Path | None = None, config: str | Path | Mapping[str, Any] | None = None,
                 class_names: str | Path | Sequence[str] | None = None) -> Target:
    """A BEATs checkpoint as a :class:`Target`.

    Parameters
    ----------
    path : str or Path
        A released BEATs checkpoint, or a bare state dict with `config` (see the
        module docstring for the formats).
    device : str, optional
    class_map : str or Path, optional
        CSV mapping the ``label_dict`` labels to display names (AudioSet's
        ``class_labels_indices.csv``).
    config : str, Path or dict, optional
        The config of a bare state dict (:func:`read_config`).
    class_names : list of str, or str or Path, optional
        The classes in logit order (:func:`read_class_names`), instead of the
        checkpoint's ``label_dict``.

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
    checkpoint = read_checkpoint(path, config=config)
    model = build_beats(checkpoint, where=where)
    if device:
        model = model.to(device)
    names = None
    if class_names is not None:
        names = read_class_names(class_names)
        if model.predictor is None or len(names) != model.config.predictor_class:
            raise AudioDissectError(f"{len(names)} class names for {where}, whose head has "
                                    f"{model.config.predictor_class if model.predictor is not None else 'no'} classes",
                                    hint="give one name per output logit, in order")
    elif model.predictor is not None and checkpoint.get("label_dict") is not None:
        names = label_names(checkpoint["label_dict"], model.config.predictor_class,
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


def convert_checkpoint(source: str | Path, *, config: str | Path | Mapping[str, Any] | None = None,
                       class_names: str | Path | Sequence[str] | None = None) -> dict[str, Any]:
    """`source` (a bare state dict with `config`, e.g. the AND paper authors' fine-tuned BEATs, or a released
    checkpoint) as an official BEATs checkpoint dict: ``cfg``, ``model`` and, with `class_names`, ``label_dict``.

    The network is built and its weights loaded (and checked) before the dict is returned.
    """
    checkpoint = read_checkpoint(source, config=config)
    model = build_beats(checkpoint, where=str(source))
    out = {"cfg": dict(checkpoint["cfg"]), "model": {k: v.detach().clone() for k, v in checkpoint["model"].items()}}
    if class_names is not None:
        names = read_class_names(class_names)
        if model.predictor is None or len(names) != model.config.predictor_class:
            raise AudioDissectError(f"{len(names)} class names for a head of "
                                    f"{model.config.predictor_class if model.predictor is not None else 'no'} classes")
        out["label_dict"] = {i: name for i, name in enumerate(names)}
    elif checkpoint.get("label_dict") is not None:
        out["label_dict"] = checkpoint["label_dict"]
    return out


def save_checkpoint(checkpoint: Mapping[str, Any], path: str | Path) -> Path:
    """Write an official BEATs checkpoint dict with ``torch.save`` (atomically); returns the path."""
    from ..cache import atomic_path

    path = Path(path).expanduser()
    with atomic_path(path) as tmp:
        torch.save(dict(checkpoint), tmp)
    return path
