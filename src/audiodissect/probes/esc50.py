"""ESC-50 (Piczak 2015): 2,000 five-second clips of 50 environmental sound classes.

Layout: ``<root>/meta/esc50.csv`` (columns filename, fold, target, category,
esc10, src_file, take) and ``<root>/audio/<filename>``. The label is the
``category`` string exactly as the file has it (``"dog"``, ``"crying_baby"``:
underscores are kept). Clips of the folds in ``heldout_folds`` (default: fold
5) form the held-out split, the other folds the probing split.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import AudioDissectError
from .base import HELDOUT, PROBE
from .disk import (Candidate, DiskProbeSet, build_disk_set, parse_folds, read_layout_table, require_folds,
                   require_root)

EXPECTED = "<root>/meta/esc50.csv and <root>/audio/*.wav (the ESC-50 repository layout)"
COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")


def load_esc50(*, root: str | None, heldout_folds: int | Sequence[int] = (5,)) -> DiskProbeSet:
    """Read ESC-50 from `root`.

    Parameters
    ----------
    root : str
        The folder holding ``meta/`` and ``audio/``.
    heldout_folds : int or sequence of int
        Folds (1-5) that form the held-out split.
    """
    base = require_root("esc50", root, expected=EXPECTED)
    table, rows = read_layout_table("ESC-50", base, "meta/esc50.csv", required=COLUMNS, expected=EXPECTED)
    folds = parse_folds(heldout_folds, option="heldout_folds")
    candidates = []
    for row in rows:
        try:
            fold, target = int(row["fold"]), int(row["target"])
        except ValueError:
            raise AudioDissectError(f"{table}: bad fold or target in the row of {row['filename']!r}",
                                    hint=f"expected {EXPECTED}") from None
        meta = {"fold": fold, "target": target, "esc10": row["esc10"].lower() == "true",
                "src_file": row["src_file"], "take": row["take"]}
        candidates.append(Candidate(path=base / "audio" / row["filename"], label=row["category"],
                                    qualifier=f"fold{fold}", metadata=meta,
                                    split=HELDOUT if fold in folds else PROBE))
    require_folds(candidates, folds, table=table)
    spec = {"name": "esc50", "root": str(root), "heldout_folds": folds}
    return build_disk_set("esc50", candidates, spec=spec, seed=0, where=str(base),
                          empty_probe_hint="hold out fewer folds (heldout_folds)")
