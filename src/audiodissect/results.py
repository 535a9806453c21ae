"""Typed results of the Python API: what each :class:`~audiodissect.Dissection` method returns.

Every result holds plain data (the run directory's records and arrays) and
converts to a :class:`pandas.DataFrame` with ``to_pandas()``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import unknown_name_error
from .probes.base import PROBE, ClipInfo
from .records import PruneRow, UnitName, UnitRecord


@dataclass
class Activations:
    """Recorded activations, read like a cache: ``acts["features.conv2"]`` is an (N, U) array.

    Attributes
    ----------
    layers : dict of str to int
        Recorded layers (in recording order) and their unit counts.
    clips : list of ClipInfo
        The N clips, in row order (probe and held-out).
    output_layer : str or None
        The layer whose units are the model's classes.
    run_path : Path

    Examples
    --------
    >>> acts = ad.Dissection.open("runs/default").activations()     # doctest: +SKIP
    >>> list(acts)                                                  # doctest: +SKIP
    ['features.conv1', 'features.conv2', 'features.conv3', 'features.conv4', 'fc', 'classifier']
    >>> acts["features.conv2"][acts.probe_rows].mean(axis=0).shape   # doctest: +SKIP
    (32,)
    """

    layers: dict[str, int]
    clips: list[ClipInfo]
    output_layer: str | None
    run_path: Path
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __getitem__(self, layer: str) -> np.ndarray:
        """(N, U) float32 activations of `layer` (memory-mapped)."""
        if layer not in self.layers:
            raise unknown_name_error("recorded layer", layer, self.layers)
        if layer not in self._arrays:
            from .rundir import RunDir

            self._arrays[layer] = RunDir(self.run_path).activations(layer)
        return self._arrays[layer]

    def __contains__(self, layer: object) -> bool:
        return layer in self.layers

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def keys(self) -> list[str]:
        return list(self.layers)

    @property
    def probe_rows(self) -> np.ndarray:
        """Row indices (n,) of the probing split (the clips that describe units)."""
        return np.array([i for i, c in enumerate(self.clips) if c.split == PROBE], dtype=np.int64)

    def logits(self) -> np.ndarray:
        """(N, n_classes) float32 logits of the model."""
        from .rundir import RunDir

        return RunDir(self.run_path).logits()

    def to_pandas(self, layer: str):
        """One row per clip (id, label, split) and one column per unit of `layer` (``"<layer>#<i>"``)."""
        import pandas as pd

        values = np.asarray(self[layer])
        frame = pd.DataFrame(values, columns=[f"{layer}#{i}" for i in range(values.shape[1])])
        frame.insert(0, "split", [c.split for c in self.clips])
        frame.insert(0, "label", [c.label for c in self.clips])
        frame.insert(0, "clip", [c.id for c in self.clips])
        return frame


@dataclass
class UnitRecords(Sequence):
    """Per-unit records of one stage (``identify``, ``summarize``, ``score``), as a sequence of typed records.

    Attributes
    ----------
    stage : str
    records : list of UnitRecord
        The stage's ``units/<stage>.jsonl`` records (:class:`~audiodissect.records.ConceptRanking`,
        :class:`~audiodissect.records.UnitSummary` or :class:`~audiodissect.records.ExplanationScore`);
        they read like mappings too (``record["concepts"]``).

    Examples
    --------
    >>> units = ad.Dissection.open("runs/default").identify()       # doctest: +SKIP
    >>> frame = units.to_pandas()                                    # doctest: +SKIP
    >>> frame[(frame.method == "tab") & (frame.similarity == "soft_wpmi")][["unit", "concepts"]].head(2)  # doctest: +SKIP
    >>> units.unit("classifier#15")[0]["concepts"][:3]              # doctest: +SKIP
    ['trumpet', 'organ', 'flute']
    """

    stage: str
    records: list[UnitRecord]

    def __getitem__(self, index):  # type: ignore[override]
        return self.records[index]

    def __len__(self) -> int:
        return len(self.records)

    def unit(self, unit_id: str) -> list[UnitRecord]:
        """The records of one unit (``"<layer>#<index>"``)."""
        return [r for r in self.records if r.unit == unit_id]

    def to_pandas(self):
        """A DataFrame with one row per record, one column per field (lists stay lists)."""
        import pandas as pd

        rows = [{k: v for k, v in r.to_json().items() if k != "format"} for r in self.records]
        return pd.DataFrame.from_records(rows)


@dataclass
class Identification(UnitRecords):
    """The identify stage's result: every unit's concept rankings, and its one name.

    Attributes
    ----------
    records : list of ConceptRanking
        One per (unit, method, similarity), best concepts first.
    names : list of UnitName
        One per unit: its name (None: unexplained), status (``named``, ``ambiguous``,
        ``unexplained``), the source that names it, z, margin, q-value and runner-up
        (:mod:`audiodissect.identify.naming`).

    Examples
    --------
    >>> units = ad.Dissection.open("runs/default").identify()                # doctest: +SKIP
    >>> units.names_frame().head(3)[["unit", "name", "status", "z"]]          # doctest: +SKIP
    """

    names: list[UnitName] = field(default_factory=list)

    def name_of(self, unit_id: str) -> UnitName:
        """The name record of one unit (``"<layer>#<index>"``)."""
        for r in self.names:
            if r.unit == unit_id:
                return r
        raise unknown_name_error("unit", unit_id, [r.unit for r in self.names])

    def names_frame(self):
        """One row per unit: its name first, then status, source, z, margin, q-value and runner-up."""
        import pandas as pd

        columns = ["unit", "layer", "index", "name", "status", "method", "similarity", "score", "z", "margin",
                   "q_value", "runner_up"]
        return pd.DataFrame.from_records([{c: getattr(r, c) for c in columns} for r in self.names], columns=columns)

    def to_pandas(self):
        """One row per ranking (unit, method, similarity), each unit's ``name`` and ``status`` after its id."""
        frame = super().to_pandas()
        if self.names and len(frame):
            by_unit = {r.unit: r for r in self.names}
            frame.insert(1, "name", [by_unit[u].name if u in by_unit else None for u in frame["unit"]])
            frame.insert(2, "status", [by_unit[u].status if u in by_unit else None for u in frame["unit"]])
        return frame


@dataclass
class Descriptions(Sequence):
    """One description per clip, in clip order.

    Attributes
    ----------
    texts : list of str
    clips : list of ClipInfo
    """

    texts: list[str]
    clips: list[ClipInfo]

    def __getitem__(self, index):  # type: ignore[override]
        return self.texts[index]

    def __len__(self) -> int:
        return len(self.texts)

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame({"clip": [c.id for c in self.clips], "label": [c.label for c in self.clips],
                             "split": [c.split for c in self.clips], "description": self.texts})


@dataclass
class PruneResult:
    """Pruning one or more concepts: the paper's table and the per-selection rows.

    Attributes
    ----------
    table : list of dict
        One row per strategy (:data:`~audiodissect.prune.evaluate.TABLE_COLUMNS`).
    results : list of PruneRow
        One row per (concept, selection): dA, dR, selectivity, accuracies.
    selections : list of Selection
        The units each strategy chose per concept (``.concept``, ``.strategy``, ``.units``).
    """

    table: list[dict[str, Any]]
    results: list[PruneRow]
    selections: list[Any] = field(default_factory=list)

    def to_pandas(self):
        """The table, one row per strategy."""
        import pandas as pd

        return pd.DataFrame.from_records(self.table)

    def __str__(self) -> str:
        from .prune.evaluate import format_table

        return format_table(self.table)


@dataclass
class Analyses:
    """The analyses' numbers (``analysis/summary.json``) and where their files are."""

    summary: dict[str, Any]
    folder: Path

    def to_pandas(self):
        """Uninterpretable-unit shares per layer (the analysis with a table)."""
        import pandas as pd

        rows = (self.summary.get("uninterpretable") or {}).get("by_layer") or []
        return pd.DataFrame.from_records(rows)
