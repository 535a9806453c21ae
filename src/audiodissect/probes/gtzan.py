"""GTZAN (Tzanetakis and Cook 2002): 1,000 thirty-second excerpts of 10 music genres.

Layout: ``<root>/genres/<genre>/*.wav`` (``genres_original/`` is accepted
too, as is a root that is the genres folder itself). The label is the
genre folder's name. There are no folds: each file is held out with a seeded
chance of 20 % (about 20 % of each genre; a file keeps its split in any
subset of the files). Unreadable files (the distribution has a broken
``jazz.00054.wav``) are skipped and reported.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import AudioDissectError
from .disk import Candidate, DiskProbeSet, audio_files, build_disk_set, require_root
from .splits import HELDOUT_FRACTION

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
EXPECTED = "<root>/genres/<genre>/*.wav with genre folders among " + ", ".join(GENRES)


def _genres_folder(base: Path) -> Path:
    for name in ("genres", "genres_original"):
        if (base / name).is_dir():
            return base / name
    return base


def load_gtzan(*, root: str | None, seed: int = 0, heldout_fraction: float = HELDOUT_FRACTION) -> DiskProbeSet:
    """Read GTZAN from `root`.

    Parameters
    ----------
    root : str
        The folder holding ``genres/``, or the genres folder itself.
    seed : int
        Decides the held-out clips.
    heldout_fraction : float
        Chance of each file to be held out.
    """
    base = require_root("gtzan", root, expected=EXPECTED)
    folder = _genres_folder(base)
    genres = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not any(g.name in GENRES for g in genres):
        raise AudioDissectError(f"{base} does not look like GTZAN: no genre folders found",
                                hint=f"expected {EXPECTED}")
    candidates = [Candidate(path=path, label=genre.name, qualifier=genre.name)
                  for genre in genres for path in audio_files(genre)]
    spec = {"name": "gtzan", "root": str(root), "seed": int(seed), "heldout_fraction": float(heldout_fraction)}
    return build_disk_set("gtzan", candidates, spec=spec, seed=int(seed),
                          heldout_fraction=float(heldout_fraction), where=str(folder),
                          empty_probe_hint="lower heldout_fraction")
