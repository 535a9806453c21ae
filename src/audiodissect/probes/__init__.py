"""Probing sets: the labelled clips whose activations describe hidden units.

``load_probe(name, root=..., **options)`` builds any of them:

============================  ===============================================
``soundbank``                 built in and offline: phrases of 16 named
                              instruments and speech, generated and cached
                              (``root``: optional cache folder)
``scenes``                    built in and offline: clips mixing two to four
                              timed events (notes, drum hits, words, noise)
                              whose onsets and offsets are known
``esc50``                     ESC-50 on disk (``heldout_folds``, default 5)
``urbansound8k``              UrbanSound8K on disk (``heldout_folds``,
                              default fold 10)
``gtzan``                     GTZAN on disk (a seeded 20 % held out)
``folder``                    ``<root>/<label>/*`` audio files
``csv``                       a manifest ``path,label[,split]`` (``root`` is
                              the file)
``hf-dataset:<id or path>``   a Hugging Face data set: a folder written by
                              ``save_to_disk``, or a hub id (``split``,
                              ``audio_column``, ``label_column``,
                              ``heldout_column`` + ``heldout_values``; needs
                              the ``hf`` extra)
============================  ===============================================

Splits without folds or a fixed column are seeded per clip: a clip keeps its
split in any subset of the set (:func:`audiodissect.probes.splits.seeded_split`).

Every set takes the option ``events``: a CSV file ``clip,onset,offset,label``
of timed events inside its clips (:mod:`audiodissect.probes.events`), the
frame-level ground truth of time-localised dissection.

Every set's :attr:`ProbeSet.spec` rebuilds it: ``load_probe(**probe.spec)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import AudioDissectError, unknown_name_error
from ..lazy import lazy_exports

#: Where the clips' types and the soundbank's names live: imported on first use (PEP 562), so that the
#: probing sets' names (help texts) cost no numpy.
_EXPORTS = {
    "HELDOUT": "base", "PROBE": "base", "SPLITS": "base", "ArrayProbeSet": "base", "ClipInfo": "base",
    "ProbeSet": "base", "SkippedClip": "base",
    "SOUNDBANK_CONCEPTS": "soundbank", "SOUNDBANK_LABELS": "soundbank",
}

if TYPE_CHECKING:
    from .base import HELDOUT, PROBE, SPLITS, ArrayProbeSet, ClipInfo, ProbeSet, SkippedClip
    from .soundbank import SOUNDBANK_CONCEPTS, SOUNDBANK_LABELS

HF_DATASET = "hf-dataset:<id or path>"
PROBE_NAMES = ("soundbank", "scenes", "esc50", "urbansound8k", "gtzan", "folder", "csv", HF_DATASET)
_HF_PREFIX = "hf-dataset:"
#: The option every probing set takes: an events CSV file (:func:`attach_events`).
EVENTS_OPTION = "events"


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


def _base_name(name: str) -> str:
    """``"hf-dataset:<id or path>"`` for any ``hf-dataset:...`` name, else `name`."""
    return HF_DATASET if name == "hf-dataset" or name.startswith(_HF_PREFIX) else name


def _loader(name: str) -> Callable[..., ProbeSet]:
    if _base_name(name) == HF_DATASET:
        from .hf_dataset import load_hf_dataset
        return load_hf_dataset
    if name == "soundbank":
        from .soundbank import load_soundbank
        return load_soundbank
    if name == "scenes":
        from .scenes import load_scenes
        return load_scenes
    if name == "esc50":
        from .esc50 import load_esc50
        return load_esc50
    if name == "urbansound8k":
        from .urbansound8k import load_urbansound8k
        return load_urbansound8k
    if name == "gtzan":
        from .gtzan import load_gtzan
        return load_gtzan
    if name == "folder":
        from .folder import load_folder
        return load_folder
    from .folder import load_manifest
    return load_manifest


def probe_options(name: str) -> list[str]:
    """The options `load_probe(name, ...)` accepts besides ``root`` (and an ``hf-dataset:`` set's source)."""
    if _base_name(name) not in PROBE_NAMES:
        raise unknown_name_error("probe set", name, PROBE_NAMES)
    return [p for p in inspect.signature(_loader(name)).parameters if p not in ("root", "source")] + [EVENTS_OPTION]


def probe_reach(name: str, *, root: str | None = None) -> str | None:
    """What loading the probing set `name` does outside this process: a hub data set's download, else None."""
    if _base_name(name) != HF_DATASET:
        return None
    from .hf_source import is_local

    source = name[len(_HF_PREFIX):] if name.startswith(_HF_PREFIX) else str(root or "")
    if not source or is_local(source):
        return None
    return f"loads the data set {source!r} from the Hugging Face hub (downloading it when it is not cached)"


def load_probe(name: str, *, root: str | None = None, **options: Any) -> ProbeSet:
    """Build the probing set called `name`.

    Parameters
    ----------
    name : str
        One of :data:`PROBE_NAMES`; for a Hugging Face data set,
        ``"hf-dataset:<hub id or folder>"`` (or ``"hf-dataset"`` with the
        folder or id as `root`).
    root : str, optional
        The data set's folder (the manifest file for ``csv``; an optional
        cache folder for ``soundbank``).
    **options
        The set's own settings, e.g. ``seed``, ``clips_per_label`` for the
        soundbank, ``heldout_folds`` for ESC-50, ``split``, ``label_column``,
        ``heldout_column`` and ``heldout_values`` for ``hf-dataset:`` (see
        each loader).

    Returns
    -------
    ProbeSet

    Raises
    ------
    AudioDissectError
        For an unknown name or option, a missing root or one that does not
        look like the layout, or a set with no usable clip.
    """
    valid = probe_options(name)
    for key in options:
        if key not in valid:
            raise unknown_name_error(f"{_base_name(name)} option", key, valid)
    events = options.pop(EVENTS_OPTION, None)
    probe = _load(name, root=root, **options)
    return probe if events is None else attach_events(probe, events)


def attach_events(probe: ProbeSet, path: str) -> ProbeSet:
    """`probe` with the timed events of an events CSV file (:func:`~audiodissect.probes.events.read_events`).

    The events replace any the set knew; the file's path enters the set's
    spec (so ``load_probe(**probe.spec)`` reads it again) and its content the
    set's :meth:`~audiodissect.probes.base.ProbeSet.content_key`.

    Raises
    ------
    AudioDissectError
        For a missing or malformed file, or an event of a clip the set lacks.
    """
    from .events import events_digest, read_events

    events = read_events(path, probe.clips)
    probe.events = events
    probe.spec[EVENTS_OPTION] = str(path)
    probe.events_digest = events_digest(events)
    return probe


def _load(name: str, *, root: str | None, **options: Any) -> ProbeSet:
    if _base_name(name) == HF_DATASET:
        source = name[len(_HF_PREFIX):] if name.startswith(_HF_PREFIX) else ""
        if bool(source) == (root is not None):
            raise AudioDissectError("an hf-dataset probing set needs its data set once: hf-dataset:<id or path>, "
                                    "or hf-dataset with the root option",
                                    hint="e.g. --probe hf-dataset:/data/esc50_saved")
        return _loader(name)(source=source or str(root), **options)
    return _loader(name)(root=root, **options)


__all__ = ["ArrayProbeSet", "ClipInfo", "HELDOUT", "HF_DATASET", "PROBE", "PROBE_NAMES", "ProbeSet",
           "SOUNDBANK_CONCEPTS", "SOUNDBANK_LABELS", "SPLITS", "SkippedClip", "attach_events", "load_probe", "probe_options",
           "probe_reach"]
