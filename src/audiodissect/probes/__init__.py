"""Probing sets: the labelled clips whose activations describe hidden units.

``load_probe(name, root=..., **options)`` builds any of them:

==============  ===========================================================
``soundbank``   built in and offline: phrases of 16 named instruments and
                speech, generated and cached (``root``: optional cache folder)
``esc50``       ESC-50 on disk (``heldout_folds``, default fold 5)
``urbansound8k`` UrbanSound8K on disk (``heldout_folds``, default fold 10)
``gtzan``       GTZAN on disk (seeded stratified 20 % held out)
``folder``      ``<root>/<label>/*`` audio files
``csv``         a manifest ``path,label[,split]`` (``root`` is the file)
==============  ===========================================================

Every set's :attr:`ProbeSet.spec` rebuilds it: ``load_probe(**probe.spec)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..errors import unknown_name_error
from .base import HELDOUT, PROBE, SPLITS, ArrayProbeSet, ClipInfo, ProbeSet, SkippedClip
from .soundbank import SOUNDBANK_CONCEPTS, SOUNDBANK_LABELS

PROBE_NAMES = ("soundbank", "esc50", "urbansound8k", "gtzan", "folder", "csv")


def _loader(name: str) -> Callable[..., ProbeSet]:
    if name == "soundbank":
        from .soundbank import load_soundbank
        return load_soundbank
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
    """The options `load_probe(name, ...)` accepts besides ``root``."""
    if name not in PROBE_NAMES:
        raise unknown_name_error("probe set", name, PROBE_NAMES)
    return [p for p in inspect.signature(_loader(name)).parameters if p != "root"]


def load_probe(name: str, *, root: str | None = None, **options: Any) -> ProbeSet:
    """Build the probing set called `name`.

    Parameters
    ----------
    name : str
        One of :data:`PROBE_NAMES`.
    root : str, optional
        The data set's folder (the manifest file for ``csv``; an optional
        cache folder for ``soundbank``).
    **options
        The set's own settings, e.g. ``seed``, ``clips_per_label`` for the
        soundbank, ``heldout_folds`` for ESC-50 (see each loader).

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
            raise unknown_name_error(f"{name} option", key, valid)
    return _loader(name)(root=root, **options)


__all__ = ["ArrayProbeSet", "ClipInfo", "HELDOUT", "PROBE", "PROBE_NAMES", "ProbeSet", "SOUNDBANK_CONCEPTS",
           "SOUNDBANK_LABELS", "SPLITS", "SkippedClip", "load_probe", "probe_options"]
