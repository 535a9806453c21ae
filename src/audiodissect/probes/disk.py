"""Probing sets read from audio files on disk: the shared machinery of every layout.

A layout module lists its files as :class:`Candidate` records; :func:`build_disk_set`
turns them into a :class:`DiskProbeSet`: it gives each clip a unique id,
decides the split, and reads and checks every file once (discarding the
audio), so that a bad file is reported at load time, with its reason, in
``probe.skipped`` and as one warning of the ``"audiodissect"`` logger,
instead of failing a later stage.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AudioDissectError
from .base import SPLITS, ClipInfo, ProbeSet, SkippedClip
from .decode import clip_problem, read_clip
from .splits import HELDOUT_FRACTION, require_probe_clips, seeded_split, unique_ids

logger = logging.getLogger("audiodissect")

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A file a layout lists, before it is checked.

    Attributes
    ----------
    path : pathlib.Path
    label : str or None
    qualifier : str
        What tells files with the same stem apart (a fold, a folder name).
    split : str or None
        ``"probe"`` or ``"heldout"`` when the layout decides; None for a
        seeded split.
    metadata : dict
    key : str or None
        What names the file for good within the set, hashed with the seed
        for its split; ``"<qualifier>/<file name>"`` when None.
    """

    path: Path
    label: str | None
    qualifier: str = ""
    split: str | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    key: str | None = None

    @property
    def split_key(self) -> str:
        return self.key if self.key is not None else f"{self.qualifier}/{self.path.name}"


class DiskProbeSet(ProbeSet):
    """A probing set whose clips are audio files, read (and mixed to mono) on demand."""

    def _read(self, index: int) -> tuple[np.ndarray, int]:
        path = self.clips[index].path
        if path is None:
            raise AudioDissectError(f"clip {self.clips[index].id!r} has no file")
        return read_clip(path)


def require_root(layout: str, root: str | os.PathLike | None, *, expected: str) -> Path:
    """The layout's root folder, or an error that says which files were expected."""
    if root is None:
        raise AudioDissectError(f"the {layout} probing set needs a root folder", hint=f"expected {expected}")
    path = Path(root).expanduser()
    if not path.exists():
        raise AudioDissectError(f"{path} does not exist", hint=f"expected {expected}")
    return path


def is_audio_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith(".")


def audio_files(folder: Path) -> list[Path]:
    """Audio files directly inside `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if is_audio_file(p))


def read_table_lines(path: Path, *, required: Sequence[str], expected: str) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV file with a header, each with the line it starts on.

    Blank lines are left out; cells are stripped of surrounding blanks.

    Raises
    ------
    AudioDissectError
        When the file cannot be read, lacks a `required` column, or a row
        has more or fewer cells than the header (naming the file and line).
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [c.strip() for c in next(reader, [])]
            missing = [c for c in required if c not in header]
            if missing:
                raise AudioDissectError(f"{path} lacks the column(s) {', '.join(missing)}",
                                        hint=f"expected {expected}; found columns: {', '.join(header) or 'none'}")
            rows = []
            line = reader.line_num + 1
            for cells in reader:
                if cells and any(c.strip() for c in cells):
                    if len(cells) != len(header):
                        raise AudioDissectError(
                            f"{path}, line {line}: {len(cells)} cells, but the header has {len(header)} columns",
                            hint=f"give every row the columns {','.join(header)}; quote cells that hold commas")
                    rows.append((line, dict(zip(header, (c.strip() for c in cells)))))
                line = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AudioDissectError(f"cannot read {path}: {exc}", hint=f"expected {expected}") from None
    return rows


def read_table(path: Path, *, required: Sequence[str], expected: str) -> list[dict[str, str]]:
    """Rows of a CSV file with a header, checked as :func:`read_table_lines` does."""
    return [row for _, row in read_table_lines(path, required=required, expected=expected)]


def read_layout_table(layout: str, base: Path, relative: str, *, required: Sequence[str],
                      expected: str) -> tuple[Path, list[dict[str, str]]]:
    """The metadata table of a data set's layout (``meta/esc50.csv``...) and its rows.

    Raises a clear error when the table is missing, so that a wrong root says
    which file it lacks.
    """
    table = base / relative
    if not table.is_file():
        raise AudioDissectError(f"{base} does not look like {layout}: {table} is missing", hint=f"expected {expected}")
    return table, read_table(table, required=required, expected=expected)


def require_folds(candidates: Sequence[Candidate], folds: Sequence[int], *, table: Path) -> None:
    """Check that every held-out fold occurs among the candidates' ``metadata["fold"]``."""
    present = sorted({c.metadata["fold"] for c in candidates})
    absent = [f for f in folds if f not in present]
    if absent:
        raise AudioDissectError(f"heldout_folds {absent} do not occur in {table}",
                                hint="folds present: " + ", ".join(map(str, present)))


def parse_folds(folds: int | Sequence[int], *, option: str) -> list[int]:
    """Fold numbers from an int or a sequence of ints."""
    if isinstance(folds, (int, str)):
        folds = [folds]
    try:
        return sorted({int(f) for f in folds})
    except (TypeError, ValueError):
        raise AudioDissectError(f"{option} must be fold numbers, got {folds!r}") from None


#: Why a file whose name is not UTF-8 is skipped: its name can be neither an id nor stored in the run.
BAD_NAME = ("its file or folder name is not valid UTF-8, so it cannot name a clip; rename it "
            "(e.g. convmv -f latin1 -t utf8 -r --notest FOLDER)")


def utf8_name(path: Path) -> bool:
    """Whether `path` is valid text (a name read from disk that is not UTF-8 holds surrogate escapes)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_path(path: Path) -> str:
    """`path` as printable text, bytes that are not UTF-8 written as ``\\xe9``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def check_file(path: Path) -> str | None:
    """None if `path` reads as usable audio, else the reason it does not (see :func:`~.decode.clip_problem`)."""
    return clip_problem(path)


def build_disk_set(name: str, candidates: Sequence[Candidate], *, spec: dict[str, Any], seed: int,
                   heldout_fraction: float = HELDOUT_FRACTION, where: str,
                   empty_probe_hint: str = "leave some clips in the probe split") -> DiskProbeSet:
    """Check every file and assemble the probing set.

    Ids come from file stems (qualified where stems collide); a clip without
    a split from the layout gets a seeded one from its
    :attr:`Candidate.split_key` (:func:`~.splits.seeded_split`), so that
    neither a file going bad nor a subset of the files moves the others.

    Parameters
    ----------
    name : str
        The set's name (``"esc50"``...).
    candidates : sequence of Candidate
    spec : dict
    seed : int
    heldout_fraction : float
    where : str
        The root, for the error raised when no clip is usable.
    empty_probe_hint : str
        What to do when every usable clip is held out.

    Raises
    ------
    AudioDissectError
        When no file is listed or usable, or no usable clip is in the probe split.
    """
    if not candidates:
        raise AudioDissectError(f"no audio files found for the {name} probing set in {where}")
    badly_named = [c for c in candidates if not utf8_name(c.path)]
    candidates = [c for c in candidates if utf8_name(c.path)]
    for cand in badly_named:
        logger.warning("skipped %s: %s", printable_path(cand.path), BAD_NAME)
    if not candidates:
        raise AudioDissectError(f"every file name of the {name} probing set in {where} is not valid UTF-8",
                                hint="rename them (e.g. convmv -f latin1 -t utf8 -r --notest FOLDER)")
    ids = unique_ids([c.path.stem for c in candidates], [c.qualifier for c in candidates])
    drawn = seeded_split([c.split_key for c in candidates], seed=seed, fraction=heldout_fraction)
    seeded = [c.split if c.split is not None else d for c, d in zip(candidates, drawn)]
    clips, skipped = [], [SkippedClip(source=printable_path(c.path), reason=BAD_NAME) for c in badly_named]
    for clip_id, cand, split in zip(ids, candidates, seeded):
        reason = check_file(cand.path)
        if reason is not None:
            skipped.append(SkippedClip(source=str(cand.path), reason=reason))
            logger.warning("skipped %s: %s", cand.path, reason)
            continue
        clips.append(ClipInfo(id=clip_id, label=cand.label, split=split,
                              metadata=dict(cand.metadata), path=str(cand.path)))
    if not clips:
        raise AudioDissectError(f"none of the {len(candidates)} files of the {name} probing set in "
                                f"{where} is usable audio",
                                hint=f"first problem: {skipped[0].source}: {skipped[0].reason}")
    if skipped:
        logger.warning("%s: %d of %d files skipped", name, len(skipped), len(candidates))
    require_probe_clips([c.split for c in clips], name=name, where=where, hint=empty_probe_hint)
    return DiskProbeSet(name=name, clips=clips, spec=spec, skipped=skipped)


def normalise_split(value: str, *, source: str) -> str:
    """``"probe"`` or ``"heldout"`` from a manifest cell (case and ``-``/``_`` ignored)."""
    key = value.strip().lower().replace("-", "").replace("_", "")
    if key in SPLITS:
        return key
    raise AudioDissectError(f"{source}: unknown split {value!r}", hint="use probe or heldout")
