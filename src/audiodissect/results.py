"""Typed results of the Python API: what each :class:`~audiodissect.Dissection` method returns.

Every result holds plain data (the run directory's records and arrays) and
converts to a :class:`pandas.DataFrame` with ``to_pandas()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import htmlrepr
from .errors import AudioDissectError, unknown_name_error
from .probes.base import PROBE, ClipInfo
from .records import PruneRow, UnitName, UnitRecord, ranking_key, unit_id

#: Per-unit activation statistics of :meth:`Activations.stats`, in column order.
STAT_COLUMNS = ("mean", "std", "max", "min", "sparsity")


def output_unit_classes(output_layer: str | None, class_names: Sequence[str] | None,
                        layers: dict[str, int]) -> dict[str, str]:
    """{unit id: class name} of the output layer's units: unit i of the output layer is class i.

    Empty when there is no output layer, no class names, or the layer's width is not the number of classes.
    """
    if not output_layer or not class_names or layers.get(output_layer) != len(class_names):
        return {}
    return {unit_id(output_layer, i): str(name) for i, name in enumerate(class_names)}


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
    class_names : list of str or None
        The model's class names, in logit order (unit i of the output layer is class i).

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
    class_names: list[str] | None = None
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _stats: dict[tuple[str, str | None], list[dict[str, Any]]] = field(default_factory=dict, repr=False)

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

    @property
    def unit_classes(self) -> dict[str, str]:
        """{unit id: class name} of the output layer's units (empty without an output layer or class names)."""
        return output_unit_classes(self.output_layer, self.class_names, self.layers)

    def to_pandas(self, layer: str):
        """One row per clip (id, label, split) and one column per unit of `layer` (``"<layer>#<i>"``).

        The columns of the output layer's units carry their class in the frame's
        ``attrs["classes"]`` ({column: class name}).
        """
        import pandas as pd

        values = np.asarray(self[layer])
        frame = pd.DataFrame(values, columns=[f"{layer}#{i}" for i in range(values.shape[1])])
        frame.insert(0, "split", [c.split for c in self.clips])
        frame.insert(0, "label", [c.label for c in self.clips])
        frame.insert(0, "clip", [c.id for c in self.clips])
        frame.attrs["classes"] = {u: c for u, c in self.unit_classes.items() if u.rpartition("#")[0] == layer}
        return frame

    def stat_rows(self, layer: str | None = None, *, split: str | None = PROBE) -> list[dict[str, Any]]:
        """:meth:`stats` as a list of dicts (no pandas needed)."""
        layers = list(self.layers) if layer is None else [layer]
        rows: list[dict[str, Any]] = []
        for name in layers:
            if name not in self.layers:
                raise unknown_name_error("recorded layer", name, self.layers)
            key = (name, split)
            if key not in self._stats:
                self._stats[key] = self._layer_stats(name, split)
            rows += self._stats[key]
        return rows

    def _layer_stats(self, layer: str, split: str | None) -> list[dict[str, Any]]:
        from .arrays import column_blocks

        rows = None if split is None else np.array([i for i, c in enumerate(self.clips) if c.split == split],
                                                  dtype=np.int64)
        if rows is not None and len(rows) == 0:
            raise AudioDissectError(f"the run has no {split!r} clips to compute unit statistics over")
        classes = self.unit_classes
        out = []
        for units, block in column_blocks(self[layer], rows=rows):
            block = np.asarray(block, dtype=np.float64)
            mean, std = block.mean(axis=0), block.std(axis=0)
            high, low, off = block.max(axis=0), block.min(axis=0), (block <= 0).mean(axis=0)
            for j, index in enumerate(range(units.start, units.stop)):
                uid = unit_id(layer, index)
                out.append({"unit": uid, "layer": layer, "index": index, "class": classes.get(uid),
                            "mean": float(mean[j]), "std": float(std[j]), "max": float(high[j]),
                            "min": float(low[j]), "sparsity": float(off[j])})
        return out

    def stats(self, layer: str | None = None, *, split: str | None = PROBE):
        """Per-unit activation statistics over the probe clips (or `split`; None: every clip).

        Parameters
        ----------
        layer : str, optional
            One recorded layer (default: every layer, in recording order).
        split : {"probe", "heldout"} or None

        Returns
        -------
        pandas.DataFrame
            One row per unit: ``unit``, ``layer``, ``index``, ``class`` (the output
            layer's units), ``mean``, ``std``, ``max``, ``min`` and ``sparsity``:
            the share of the clips on which the unit is not positive (after a ReLU:
            the share it is off). Read a block of units at a time; cached.
        """
        import pandas as pd

        return pd.DataFrame.from_records(self.stat_rows(layer, split=split),
                                         columns=["unit", "layer", "index", "class", *STAT_COLUMNS])

    def _repr_html_(self) -> str:
        n_probe = sum(c.split == PROBE for c in self.clips)
        rows = [{"layer": name, "units": units, "output layer": "yes" if name == self.output_layer else ""}
                for name, units in self.layers.items()]
        caption = (f"Activations: {sum(self.layers.values())} units in {len(self.layers)} layers over "
                   f"{len(self.clips)} clips ({n_probe} probe)"
                   + (f", {len(self.class_names)} classes" if self.class_names else ""))
        return htmlrepr.table(rows, caption=caption)


@dataclass
class UnitRecords(Sequence):
    """Per-unit records of one stage (``identify``, ``summarize``, ``score``), as a sequence of typed records.

    Attributes
    ----------
    stage : str
    records : list or LazyRecords of UnitRecord
        The stage's ``units/<stage>.jsonl`` records (:class:`~audiodissect.records.ConceptRanking`,
        :class:`~audiodissect.records.UnitSummary` or :class:`~audiodissect.records.ExplanationScore`);
        they read like mappings too (``record["concepts"]``). The identify stage's are a
        :class:`~audiodissect.records.LazyRecords`: made (or read from the run) when first used.
    classes : dict of str to str
        The class each output unit stands for (unit i of the output layer is class i), when the
        model has class names.

    Examples
    --------
    >>> units = ad.Dissection.open("runs/default").identify()       # doctest: +SKIP
    >>> frame = units.to_pandas()                                    # doctest: +SKIP
    >>> frame[(frame.method == "tab") & (frame.similarity == "soft_wpmi")][["unit", "concepts"]].head(2)  # doctest: +SKIP
    >>> units.unit("classifier#15")[0]["concepts"][:3]              # doctest: +SKIP
    ['trumpet', 'organ', 'flute']
    """

    stage: str
    records: Sequence[UnitRecord]
    classes: dict[str, str] = field(default_factory=dict)
    _by_unit: dict[str, list[UnitRecord]] | None = field(default=None, init=False, repr=False, compare=False)

    def __getitem__(self, index):  # type: ignore[override]
        return self.records[index]

    def __len__(self) -> int:
        return len(self.records)

    def unit(self, unit_id: str) -> list[UnitRecord]:
        """The records of one unit (``"<layer>#<index>"``; none: an empty list). The records are grouped by
        unit on the first call, so that asking for every unit in turn reads them once."""
        if self._by_unit is None:
            self._by_unit = {}
            for r in self.records:
                self._by_unit.setdefault(r.unit, []).append(r)
        return list(self._by_unit.get(unit_id, []))

    def class_of(self, unit_id: str) -> str | None:
        """The class an output unit stands for (None for other units)."""
        return self.classes.get(unit_id)

    def _rows(self) -> list[dict[str, Any]]:
        rows = []
        for r in self.records:
            row = {k: v for k, v in r.to_json().items() if k != "format"}
            if self.classes:
                row = {"unit": row.pop("unit"), "class": self.classes.get(r.unit), **row}
            rows.append(row)
        return rows

    def to_pandas(self):
        """A DataFrame with one row per record, one column per field (lists stay lists); a ``class`` column
        after the unit names the output units' classes, when the model has class names."""
        import pandas as pd

        return pd.DataFrame.from_records(self._rows())

    def _repr_html_(self) -> str:
        units = len({r.unit for r in self.records})
        return htmlrepr.table(self._rows(), caption=f"{self.stage}: {len(self.records)} records of {units} units")


@dataclass
class Identification(UnitRecords):
    """The identify stage's result: every unit's concept rankings, and its one name.

    Attributes
    ----------
    records : LazyRecords of ConceptRanking
        One per (unit, method, similarity), best concepts first; made (or read from the run)
        when first used.
    names : list of UnitName
        One per unit: its name (None: unexplained), status (``named``, ``ambiguous``,
        ``unexplained``), the source that names it, z, margin, q-value and runner-up
        (:mod:`audiodissect.identify.naming`).
    activations : Activations or None
        The run's activations, for the activation statistics of the wide table.

    Examples
    --------
    >>> units = ad.Dissection.open("runs/default").identify()                # doctest: +SKIP
    >>> units.names_frame().head(3)[["unit", "name", "status", "z"]]          # doctest: +SKIP
    """

    names: list[UnitName] = field(default_factory=list)
    activations: Activations | None = field(default=None, repr=False)
    _name_of: dict[str, UnitName] | None = field(default=None, init=False, repr=False, compare=False)

    def name_of(self, unit_id: str) -> UnitName:
        """The name record of one unit (``"<layer>#<index>"``; the names are indexed by unit on the first call)."""
        if self._name_of is None:
            self._name_of = {}
            for r in self.names:
                self._name_of.setdefault(r.unit, r)  # the first record of a unit, as a scan would find
        if unit_id not in self._name_of:
            raise unknown_name_error("unit", unit_id, [r.unit for r in self.names])
        return self._name_of[unit_id]

    def names_frame(self):
        """One row per unit: its name first, then status, source, z, margin, q-value and runner-up."""
        import pandas as pd

        columns = ["unit", "layer", "index", "name", "status", "method", "similarity", "score", "z", "margin",
                   "q_value", "runner_up"]
        return pd.DataFrame.from_records([{c: getattr(r, c) for c in columns} for r in self.names], columns=columns)

    def to_pandas(self, *, wide: bool = False, stats: bool = True):
        """The rankings as a table, long (default) or wide.

        Parameters
        ----------
        wide : bool
            False: one row per ranking (unit, method, similarity), each unit's
            ``name`` and ``status`` after its id, the output units' ``class``, and
            ``top1`` (the ranking's first concept) after the similarity. True: one
            row per unit (:meth:`wide_rows`).
        stats : bool
            With `wide`, add each unit's activation statistics over the probe clips
            (mean, std, max, min, sparsity), when the activations are known.
        """
        import pandas as pd

        if wide:
            rows = self.wide_rows(stats=stats)
            return pd.DataFrame.from_records(rows, columns=list(dict.fromkeys(k for r in rows for k in r)) or None)
        frame = super().to_pandas()
        if self.names and len(frame):
            by_unit = {r.unit: r for r in self.names}
            frame.insert(1, "name", [by_unit[u].name if u in by_unit else None for u in frame["unit"]])
            frame.insert(2, "status", [by_unit[u].status if u in by_unit else None for u in frame["unit"]])
        if "concepts" in frame and len(frame):
            at = list(frame.columns).index("similarity") + 1 if "similarity" in frame else len(frame.columns)
            frame.insert(at, "top1", [c[0] if isinstance(c, list) and c else None for c in frame["concepts"]])
        return frame

    def columns(self) -> list[str]:
        """The ranking columns of the wide table, ``"<method>/<similarity>"`` (or the method alone), in order."""
        return list(dict.fromkeys(ranking_key(r) for r in self.records))

    def wide_rows(self, *, stats: bool = True) -> list[dict[str, Any]]:
        """One dict per unit, in record order: ``unit``, ``name``, ``status``, ``class`` (when the model has
        class names), ``layer``, ``index``, then one column per method/similarity holding that ranking's top-1
        concept (:meth:`columns`), then (with `stats` and known activations) the unit's activation statistics."""
        by_unit: dict[str, dict[str, Any]] = {}
        names = {r.unit: r for r in self.names}
        columns = self.columns()  # once: every unit's row has every column
        for r in self.records:
            row = by_unit.get(r.unit)
            if row is None:
                name = names.get(r.unit)
                row = {"unit": r.unit, "name": name.name if name else None, "status": name.status if name else None}
                if self.classes:
                    row["class"] = self.classes.get(r.unit)
                row.update(layer=r.layer, index=r.index, **dict.fromkeys(columns))
                by_unit[r.unit] = row
            concepts = r.get("concepts") or []
            row[ranking_key(r)] = concepts[0] if concepts else None
        if stats and self.activations is not None:
            layers = list(dict.fromkeys(row["layer"] for row in by_unit.values()))
            known = {s["unit"]: s for layer in layers if layer in self.activations.layers
                     for s in self.activations.stat_rows(layer)}
            for uid, row in by_unit.items():
                row.update({c: known.get(uid, {}).get(c) for c in STAT_COLUMNS})
        return list(by_unit.values())

    def _repr_html_(self) -> str:
        rows = self.wide_rows(stats=False)
        named = sum(1 for r in self.names if r.status == "named")
        caption = f"Identification: {len(rows)} units, {len(self.records)} rankings" + (
            f", {named} confidently named" if self.names else "")
        return htmlrepr.table(rows, caption=caption)


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

    def _repr_html_(self) -> str:
        rows = [{"clip": c.id, "label": c.label, "split": c.split, "description": t}
                for c, t in zip(self.clips, self.texts)]
        return htmlrepr.table(rows, caption=f"Descriptions of {len(self.texts)} clips")


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

    def _repr_html_(self) -> str:
        return htmlrepr.table(self.table, caption="Pruning (held-out confidence change; dA: the concept's clips, "
                                                  "dR: the rest)")


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

    def _repr_html_(self) -> str:
        rows = (self.summary.get("uninterpretable") or {}).get("by_layer") or []
        return htmlrepr.table(rows, caption=f"Analyses in {self.folder}: uninterpretable units per layer")


@dataclass
class TopClip:
    """One of a unit's most (or least) activating clips, with its audio read on demand.

    Attributes
    ----------
    unit : str
    rank : int
        1 for the most activating clip (the least, for bottom clips).
    row : int
        The clip's row in the run's arrays.
    clip : ClipInfo
    activation : float
        The unit's pooled activation on the clip.
    description : str or None
        The clip's description, when the run has descriptions.
    sample_rate : int
        Rate of :attr:`audio`, Hz.
    """

    unit: str
    rank: int
    row: int
    clip: ClipInfo
    activation: float
    description: str | None
    sample_rate: int
    _read: Callable[[], np.ndarray] = field(repr=False, compare=False)
    _audio: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def audio(self) -> np.ndarray:
        """The clip's mono float32 audio, (T,) at :attr:`sample_rate` (read once, then kept)."""
        if self._audio is None:
            self._audio = np.asarray(self._read(), dtype=np.float32)
        return self._audio

    def player(self) -> Any:
        """An ``IPython.display.Audio`` player of the clip (needs IPython, as Jupyter has)."""
        return ipython_audio(self.audio, self.sample_rate)

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "rank": self.rank, "clip": self.clip.id, "label": self.clip.label,
                "split": self.clip.split, "activation": self.activation, "description": self.description,
                "path": self.clip.path}

    def _repr_html_(self) -> str:
        row = {**self.to_dict(), "audio": htmlrepr.audio_player(self.audio, self.sample_rate)}
        return htmlrepr.table([row], ["rank", "clip", "label", "activation", "audio", "description"],
                              caption=f"{self.unit}: clip {self.clip.id}")


@dataclass
class TopClips(Sequence):
    """A unit's top (or bottom) clips, best first: :meth:`Dissection.top_clips <audiodissect.Dissection.top_clips>`.

    In a notebook the list shows as a table with an audio player per clip;
    :meth:`players` gives ``IPython.display.Audio`` objects.

    Attributes
    ----------
    unit : str
    clips : list of TopClip
    bottom : bool
        True for the least activating clips.
    class_name : str or None
        The class the unit stands for, for an output unit.
    """

    unit: str
    clips: list[TopClip]
    bottom: bool = False
    class_name: str | None = None

    def __getitem__(self, index):  # type: ignore[override]
        return self.clips[index]

    def __len__(self) -> int:
        return len(self.clips)

    def players(self) -> list[Any]:
        """One ``IPython.display.Audio`` per clip, in order (needs IPython)."""
        return [clip.player() for clip in self.clips]

    def to_pandas(self):
        """One row per clip: unit, rank, clip id, label, split, activation, description, path."""
        import pandas as pd

        return pd.DataFrame.from_records([c.to_dict() for c in self.clips])

    def _repr_html_(self) -> str:
        rows = [{**c.to_dict(), "audio": htmlrepr.audio_player(c.audio, c.sample_rate)} for c in self.clips]
        which = "least" if self.bottom else "most"
        caption = f"{self.unit}" + (f" (class {self.class_name})" if self.class_name else "") + \
            f": the {len(self.clips)} {which} activating clips"
        return htmlrepr.table(rows, ["rank", "clip", "label", "activation", "audio", "description"],
                              caption=caption, limit=max(len(rows), 1))


def ipython_audio(wave: np.ndarray, sample_rate: int) -> Any:
    """``IPython.display.Audio(wave, rate=sample_rate)``, or a clear error when IPython is not installed."""
    try:
        from IPython.display import Audio
    except ImportError:
        raise AudioDissectError("audio players need IPython, which is not installed",
                                hint="pip install ipython (Jupyter has it); a notebook also plays the clips of "
                                     "the displayed list without it, and .audio gives the samples") from None
    return Audio(np.asarray(wave, dtype=np.float32), rate=int(sample_rate))


@dataclass
class UnitActivations:
    """Chosen units' activations on new clips (:meth:`Dissection.activations_for
    <audiodissect.Dissection.activations_for>`), pooled as the run records.

    Attributes
    ----------
    units : list of str
        Unit ids, one per column.
    clips : list of str
        Clip names, one per row.
    values : np.ndarray, shape (n clips, n units), float32
    logits : np.ndarray, shape (n clips, n classes), float32
        The model's logits on the clips ((n, 0) for a model without logits).
    classes : dict of str to str
        The class each output unit among `units` stands for.
    """

    units: list[str]
    clips: list[str]
    values: np.ndarray
    logits: np.ndarray
    classes: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, unit: str) -> np.ndarray:
        """(n clips,) activations of one unit."""
        if unit not in self.units:
            raise unknown_name_error("unit", unit, self.units)
        return self.values[:, self.units.index(unit)]

    def __len__(self) -> int:
        return len(self.clips)

    def to_pandas(self):
        """One row per clip (its name as the index), one column per unit."""
        import pandas as pd

        frame = pd.DataFrame(self.values, index=pd.Index(self.clips, name="clip"), columns=self.units)
        frame.attrs["classes"] = dict(self.classes)
        return frame

    def _repr_html_(self) -> str:
        shown = self.units[:12]
        rows = [{"clip": name, **{u: float(v) for u, v in zip(shown, values)}}
                for name, values in zip(self.clips, self.values[:, :len(shown)])]
        more = f" (first {len(shown)} shown)" if len(self.units) > len(shown) else ""
        return htmlrepr.table(rows, caption=f"Activations of {len(self.units)} units on {len(self.clips)} clips{more}")
