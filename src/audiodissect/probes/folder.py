"""Probing sets from a folder of labelled sub-folders, or from a CSV manifest.

Folder layout: ``<root>/<label>/*.{wav,flac,ogg,mp3}``; the label is the
sub-folder's name and each file is held out with a seeded chance of 20 %
(:func:`~.splits.seeded_split` of ``"<label>/<file name>"``). If ``<root>``
holds both ``probe/`` and ``heldout/``, the split is theirs instead:
``<root>/probe/<label>/*`` and ``<root>/heldout/<label>/*``.

Manifest: a CSV file with a header and the columns ``path`` and ``label``,
optionally ``split`` (``probe`` or ``heldout``; an empty cell, like a missing
column, means the seeded split of the ``path`` cell). Relative paths are
taken from the manifest's folder. Other columns are kept as clip metadata.
Every row must have as many cells as the header and a label. A file listed
twice is read once: the repeats are warned about when they agree on label
and split, and are an error naming both lines when they do not.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import AudioDissectError
from .base import SPLITS
from .disk import (Candidate, DiskProbeSet, audio_files, build_disk_set, normalise_split,
                   read_table_lines, require_root)
from .splits import HELDOUT_FRACTION

logger = logging.getLogger("audiodissect")

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
        Chance of each file to be held out when the folder does not fix the split.
    """
    base = require_root("folder", root, expected=FOLDER_EXPECTED)
    if not base.is_dir():
        raise AudioDissectError(f"{base} is not a folder", hint=f"expected {FOLDER_EXPECTED}")
    if all((base / s).is_dir() for s in SPLITS):
        candidates = [Candidate(path=path, label=label.name, qualifier=f"{split}-{label.name}", split=split)
                      for split in SPLITS
                      for label in sorted(p for p in (base / split).iterdir() if p.is_dir())
                      for path in audio_files(label)]
        hint = f"put some files under {base / 'probe'}"
    else:
        candidates = [Candidate(path=path, label=label.name, qualifier=label.name)
                      for label in sorted(p for p in base.iterdir() if p.is_dir())
                      for path in audio_files(label)]
        hint = "add files or lower heldout_fraction"
    if not candidates:
        raise AudioDissectError(f"{base} holds no audio files in label folders",
                                hint=f"expected {FOLDER_EXPECTED}")
    spec = {"name": "folder", "root": str(root), "seed": int(seed), "heldout_fraction": float(heldout_fraction)}
    return build_disk_set("folder", candidates, spec=spec, seed=int(seed),
                          heldout_fraction=float(heldout_fraction), where=str(base), empty_probe_hint=hint)


def _manifest_candidates(manifest: Path) -> list[Candidate]:
    """One candidate per distinct file of `manifest`, its repeats checked and dropped."""
    rows = read_table_lines(manifest, required=("path", "label"), expected=MANIFEST_EXPECTED)
    folder = manifest.parent
    first: dict[str, tuple[int, Candidate]] = {}
    repeats: list[str] = []
    for line, row in rows:
        where = f"{manifest}, line {line}"
        if not row["path"]:
            raise AudioDissectError(f"{where}: empty path", hint=f"expected {MANIFEST_EXPECTED}")
        if not row["label"]:
            raise AudioDissectError(f"{where}: {row['path']} has no label",
                                    hint="give every row a label, or leave the file out")
        path = Path(row["path"]).expanduser()
        path = path if path.is_absolute() else folder / path
        split = normalise_split(row["split"], source=where) if row.get("split") else None
        meta = {k: v for k, v in row.items() if k not in ("path", "label", "split")}
        cand = Candidate(path=path, label=row["label"], qualifier=path.parent.name, split=split,
                         metadata=meta, key=row["path"])
        same = os.path.normcase(os.path.realpath(path))
        if same in first:
            line0, cand0 = first[same]
            if (cand0.label, cand0.split) != (cand.label, cand.split):
                raise AudioDissectError(
                    f"{manifest} lists {row['path']} twice with different labels or splits: line {line0} "
                    f"({cand0.label}, {cand0.split or 'seeded'}) and line {line} ({cand.label}, "
                    f"{cand.split or 'seeded'})",
                    hint="keep one row per file, so that no file is in both the probe and held-out splits")
            repeats.append(f"{row['path']} (lines {line0} and {line})")
            continue
        first[same] = (line, cand)
    if repeats:
        logger.warning("%s lists %d file(s) more than once; each is read once: %s", manifest, len(repeats),
                       "; ".join(repeats))
    return [cand for _, cand in first.values()]


def load_manifest(*, root: str | None, seed: int = 0, heldout_fraction: float = HELDOUT_FRACTION) -> DiskProbeSet:
    """Read the clips a CSV manifest lists (see the module docstring for its rules).

    Parameters
    ----------
    root : str
        The manifest file.
    seed : int
    heldout_fraction : float
        Chance of each row without a split to be held out.

    Raises
    ------
    AudioDissectError
        For a missing column, a row with too many or too few cells, an empty
        path or label, an unknown split, a file listed twice with different
        labels or splits, no usable file, or an empty probe split.
    """
    manifest = require_root("csv", root, expected=MANIFEST_EXPECTED)
    if not manifest.is_file():
        raise AudioDissectError(f"{manifest} is not a file", hint=f"expected {MANIFEST_EXPECTED}")
    candidates = _manifest_candidates(manifest)
    spec = {"name": "csv", "root": str(root), "seed": int(seed), "heldout_fraction": float(heldout_fraction)}
    return build_disk_set("csv", candidates, spec=spec, seed=int(seed),
                          heldout_fraction=float(heldout_fraction), where=str(manifest),
                          empty_probe_hint="mark some rows split=probe or leave their split cell empty")
