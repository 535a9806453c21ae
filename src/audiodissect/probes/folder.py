"""Probing sets from a folder of labelled sub-folders, or from a CSV manifest.

Folder layout: ``<root>/<label>/*.{wav,flac,ogg,mp3}``; the label is the
sub-folder's name and a seeded, stratified 20 % of each label is held out.
If ``<root>`` holds both ``probe/`` and ``heldout/``, the split is theirs
instead: ``<root>/probe/<label>/*`` and ``<root>/heldout/<label>/*``.

Manifest: a CSV file with a header and the columns ``path`` and ``label``,
optionally ``split`` (``probe`` or ``heldout``; an empty cell, like a missing
column, means the seeded stratified split). Relative paths are taken from the
manifest's folder. Other columns are kept as clip metadata.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import AudioDissectError
from .base import SPLITS
from .disk import (Candidate, DiskProbeSet, audio_files, build_disk_set, normalise_split,
                   read_table, require_root)
from .splits import HELDOUT_FRACTION

FOLDER_EXPECTED = ("<root>/<label>/*.wav|flac|ogg|mp3, or <root>/probe/<label>/* and "
                   "<root>/heldout/<label>/*")
MANIFEST_EXPECTED = "a CSV file with the columns path,label[,split] (paths relative to the file's folder)"


def load_folder(*, root: str | None, seed: int = 0, heldout_fraction: float = HELDOUT_FRACTION) -> DiskProbeSet:
    """Read ``<root>/<label>/*`` audio files (see the module docstring for the split).

    Parameters
    ----------
    root : str
    seed : int
    heldout_fraction : float
        Share of each label held out when the folder does not fix the split.
    """
    base = require_root("folder", root, expected=FOLDER_EXPECTED)
    if not base.is_dir():
        raise AudioDissectError(f"{base} is not a folder", hint=f"expected {FOLDER_EXPECTED}")
    if all((base / s).is_dir() for s in SPLITS):
        candidates = [Candidate(path=path, label=label.name, qualifier=f"{split}-{label.name}", split=split)
                      for split in SPLITS
                      for label in sorted(p for p in (base / split).iterdir() if p.is_dir())
                      for path in audio_files(label)]
    else:
        candidates = [Candidate(path=path, label=label.name, qualifier=label.name)
                      for label in sorted(p for p in base.iterdir() if p.is_dir())
                      for path in audio_files(label)]
    if not candidates:
        raise AudioDissectError(f"{base} holds no audio files in label folders",
                                hint=f"expected {FOLDER_EXPECTED}")
    spec = {"name": "folder", "root": str(root), "seed": int(seed), "heldout_fraction": float(heldout_fraction)}
    return build_disk_set("folder", candidates, spec=spec, seed=int(seed),
                          heldout_fraction=float(heldout_fraction), where=str(base))


def load_manifest(*, root: str | None, seed: int = 0, heldout_fraction: float = HELDOUT_FRACTION) -> DiskProbeSet:
    """Read the clips a CSV manifest lists.

    Parameters
    ----------
    root : str
        The manifest file.
    seed : int
    heldout_fraction : float
        Share of each label held out among rows without a split.
    """
    manifest = require_root("csv", root, expected=MANIFEST_EXPECTED)
    if not manifest.is_file():
        raise AudioDissectError(f"{manifest} is not a file", hint=f"expected {MANIFEST_EXPECTED}")
    rows = read_table(manifest, required=("path", "label"), expected=MANIFEST_EXPECTED)
    folder = manifest.parent
    candidates = []
    for n, row in enumerate(rows, start=2):
        if not row["path"]:
            raise AudioDissectError(f"{manifest}, line {n}: empty path", hint=f"expected {MANIFEST_EXPECTED}")
        path = Path(row["path"]).expanduser()
        path = path if path.is_absolute() else folder / path
        split = row.get("split", "")
        split = normalise_split(split, source=f"{manifest}, line {n}") if split else None
        meta = {k: v for k, v in row.items() if k not in ("path", "label", "split")}
        candidates.append(Candidate(path=path, label=row["label"] or None, qualifier=path.parent.name,
                                    split=split, metadata=meta))
    spec = {"name": "csv", "root": str(root), "seed": int(seed), "heldout_fraction": float(heldout_fraction)}
    return build_disk_set("csv", candidates, spec=spec, seed=int(seed),
                          heldout_fraction=float(heldout_fraction), where=str(manifest))
