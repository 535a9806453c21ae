"""How far to trust the names of planted units: right, confidently wrong, or left unexplained.

A namer that abstains is only useful if its confident names are right; the
planted layer, whose units' concepts are known, tells. :func:`naming_table`
counts, per group of planted units (class copies, acoustic detectors, pitch
bands, registers, speech, label units, hidden cohorts), how many got their
own concept as a confident name, how many a wrong confident name, and how
many were left ambiguous or unexplained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..records import UnitName

#: Columns of :func:`naming_table`.
COLUMNS = ("group", "units", "right", "wrong", "ambiguous", "unexplained", "right_of_named")


def naming_table(names: Sequence[UnitName], truth: Sequence[str], groups: Sequence[str]) -> list[dict[str, Any]]:
    """Per group of planted units, and over all: right and wrong confident names, and abstentions.

    Parameters
    ----------
    names : sequence of UnitName
        The planted layer's names, in unit order.
    truth : sequence of str
        Each unit's concept.
    groups : sequence of str
        Each unit's group (``class``, ``acoustic``, ``band``, ``register``, ``speech``, ``label``, ``cohort``).

    Returns
    -------
    list of dict
        :data:`COLUMNS`; ``right_of_named`` is the share of confident names that are right
        (None when there are none). The last row is ``"all"``.
    """
    rows: dict[str, dict[str, Any]] = {}
    for r, concept, group in zip(names, truth, groups):
        for key in (group, "all"):
            row = rows.setdefault(key, {"group": key, "units": 0, "right": 0, "wrong": 0, "ambiguous": 0,
                                        "unexplained": 0})
            row["units"] += 1
            if r.status == "named":
                row["right" if r.name == concept else "wrong"] += 1
            else:
                row[r.status] += 1
    rows["all"] = rows.pop("all")
    for row in rows.values():
        named = row["right"] + row["wrong"]
        row["right_of_named"] = round(row["right"] / named, 4) if named else None
    return list(rows.values())


def format_naming_table(rows: Sequence[dict[str, Any]]) -> str:
    """:func:`naming_table` rows as aligned text."""
    head = ["group", "units", "right", "wrong", "ambiguous", "unexplained", "right of named"]
    body = [[r["group"], str(r["units"]), str(r["right"]), str(r["wrong"]), str(r["ambiguous"]),
             str(r["unexplained"]), "-" if r["right_of_named"] is None else f"{100 * r['right_of_named']:.1f}%"]
            for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths)))
                     for line in [head, ["-" * w for w in widths], *body])
