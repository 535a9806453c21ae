"""UrbanSound8K (Salamon et al. 2014): 8,732 urban sound excerpts of 10 classes in 10 folds.

Layout: ``<root>/metadata/UrbanSound8K.csv`` (columns slice_file_name, fsID,
start, end, salience, fold, classID, class) and
``<root>/audio/fold<N>/<slice_file_name>``. The label is the ``class``
string (``"dog_bark"``, ``"street_music"``). Clips of the folds in
``heldout_folds`` (default: fold 10) are held out.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import AudioDissectError
from .base import HELDOUT, PROBE
from .disk import (Candidate, DiskProbeSet, build_disk_set, parse_folds, read_layout_table, require_folds,
                   require_root)

EXPECTED = "<root>/metadata/UrbanSound8K.csv and <root>/audio/fold<N>/*.wav (the UrbanSound8K layout)"
COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")


def load_urbansound8k(*, root: str | None, heldout_folds: int | Sequence[int] = (10,)) -> DiskProbeSet:
    """Read UrbanSound8K from `root`.

    Parameters
    ----------
    root : str
        The folder holding ``metadata/`` and ``audio/``.
    heldout_folds : int or sequence of int
        Folds (1-10) that form the held-out split.
    """
    base = require_root("urbansound8k", root, expected=EXPECTED)
    table, rows = read_layout_table("UrbanSound8K", base, "metadata/UrbanSound8K.csv", required=COLUMNS, expected=EXPECTED)
    folds = parse_folds(heldout_folds, option="heldout_folds")
    candidates = []
    for row in rows:
        try:
            fold = int(row["fold"])
            meta = {"fold": fold, "fsID": int(row["fsID"]), "start": float(row["start"]),
                    "end": float(row["end"]), "salience": int(row["salience"]),
                    "classID": int(row["classID"])}
        except ValueError:
            raise AudioDissectError(f"{table}: bad number in the row of {row['slice_file_name']!r}",
                                    hint=f"expected {EXPECTED}") from None
        candidates.append(Candidate(path=base / "audio" / f"fold{fold}" / row["slice_file_name"],
                                    label=row["class"], qualifier=f"fold{fold}", metadata=meta,
                                    split=HELDOUT if fold in folds else PROBE))
    require_folds(candidates, folds, table=table)
    spec = {"name": "urbansound8k", "root": str(root), "heldout_folds": folds}
    return build_disk_set("urbansound8k", candidates, spec=spec, seed=0, where=str(base),
                          empty_probe_hint="hold out fewer folds (heldout_folds)")
