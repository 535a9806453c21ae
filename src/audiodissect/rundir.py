"""The run directory: where every stage reads its inputs and writes its results.

Layout::

    manifest.json            stages done, their cache keys, timings and facts
    config.json              the resolved settings of the last run
    clips.jsonl              one record per clip (id, label, split, metadata, path)
    logits.npy               (N, n_classes) float32
    activations/<layer>.npy  (N, U) float32, rows in clip order
    ...                      later stages add their own files
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .cache import load_npy, read_json, read_jsonl, save_npy, write_json, write_jsonl
from .errors import AudioDissectError
from .probes.base import PROBE, ClipInfo, ProbeSet


class RunDir:
    """Paths and cached state of one run directory.

    Parameters
    ----------
    path : path-like
        Created when missing.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    # -- manifest -----------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"stages": {}}
        return read_json(self.manifest_path)

    def stage_current(self, stage: str, key: str) -> bool:
        """True when `stage` finished before with the same cache `key`."""
        return self.manifest()["stages"].get(stage, {}).get("key") == key

    def finish_stage(self, stage: str, key: str, section: dict[str, Any]) -> None:
        """Record that `stage` finished with cache `key`; `section` is kept in the manifest."""
        manifest = self.manifest()
        manifest["stages"][stage] = {**section, "key": key}
        write_json(self.manifest_path, manifest)

    def stage(self, stage: str) -> dict[str, Any]:
        """The manifest section of a finished stage, or a clear error naming the command to run."""
        section = self.manifest()["stages"].get(stage)
        if section is None:
            raise AudioDissectError(f"{self.path} has no results of the {stage!r} stage",
                                    hint=f"run `audiodissect {stage}` (or `audiodissect run`) first")
        return section

    # -- clips ----------------------------------------------------------------
    def write_clips(self, probe: ProbeSet) -> None:
        write_jsonl(self.path / "clips.jsonl", (c.to_record() for c in probe.clips))

    def clips(self) -> list[ClipInfo]:
        path = self.path / "clips.jsonl"
        if not path.exists():
            raise AudioDissectError(f"{self.path} holds no recorded clips",
                                    hint="run `audiodissect record` first")
        return [ClipInfo(**r) for r in read_jsonl(path)]

    def probe_rows(self) -> np.ndarray:
        """Row indices of the probing split (clips that may describe units), shape (n,)."""
        return np.array([i for i, c in enumerate(self.clips()) if c.split == PROBE], dtype=np.int64)

    # -- arrays ---------------------------------------------------------------
    def activation_path(self, layer: str) -> Path:
        return self.path / "activations" / f"{layer}.npy"

    def save_activations(self, layer: str, array: np.ndarray) -> None:
        save_npy(self.activation_path(layer), np.asarray(array, dtype=np.float32))

    def activations(self, layer: str, *, mmap: bool = True) -> np.ndarray:
        """(N, U) float32 activations of `layer`."""
        path = self.activation_path(layer)
        if not path.exists():
            from .errors import unknown_name_error

            raise unknown_name_error("recorded layer", layer, self.layers())
        return load_npy(path, mmap=mmap)

    def layers(self) -> list[str]:
        """Recorded layers, in recording order."""
        return list(self.stage("record")["layers"])

    def probe_activations(self) -> dict[str, np.ndarray]:
        """Each recorded layer's activations on the probe clips only, {layer: (n_probe, U)}."""
        rows = self.probe_rows()
        return {layer: np.asarray(self.activations(layer))[rows] for layer in self.layers()}

    def concepts(self) -> list[str] | None:
        """The concept set written by the identify stage (``concepts.txt``), or None before it ran."""
        path = self.path / "concepts.txt"
        if not path.exists():
            return None
        return [c for c in path.read_text(encoding="utf-8").split("\n") if c]

    def probe_cache(self, probe: Any) -> Path:
        """``cache/probe-<content key>``: where results about the clips' audio are cached.

        Descriptions, tag logits, evidence matrices and the scoring's audio side
        are kept per :meth:`ProbeSet.content_key <audiodissect.probes.base.ProbeSet.content_key>`,
        so a probing set whose audio changed under the same clip ids never reads
        results of the old audio.
        """
        return self.path / "cache" / f"probe-{probe.content_key()[:16]}"

    def descriptions(self) -> list[str] | None:
        """One description per clip in clip order, from ``descriptions.json``; None before a describe stage.

        Raises
        ------
        AudioDissectError
            When the file lacks some of the run's clips (it belongs to other clips).
        """
        path = self.path / "descriptions.json"
        if not path.exists():
            return None
        by_id = read_json(path)
        ids = [c.id for c in self.clips()]
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise AudioDissectError(f"{path} has no description for {len(missing)} of the run's clips "
                                    f"(e.g. {missing[0]!r})",
                                    hint=f"describe again: `audiodissect describe --run {self.path}`")
        return [str(by_id[i]) for i in ids]

    def save_logits(self, array: np.ndarray) -> None:
        save_npy(self.path / "logits.npy", np.asarray(array, dtype=np.float32))

    def logits(self) -> np.ndarray:
        return load_npy(self.path / "logits.npy")

    # -- per-unit records -------------------------------------------------------
    def units_path(self, stage: str) -> Path:
        """``units/<stage>.jsonl``: one JSON record per unit (and method) written by `stage`."""
        return self.path / "units" / f"{stage}.jsonl"

    def write_units(self, stage: str, records) -> None:
        write_jsonl(self.units_path(stage), records)

    def read_units(self, stage: str) -> list[dict[str, Any]]:
        path = self.units_path(stage)
        if not path.exists():
            raise AudioDissectError(f"{self.path} has no {stage!r} results",
                                    hint=f"run `audiodissect {stage} --run {self.path}` first")
        return read_jsonl(path)

    def has_units(self, stage: str) -> bool:
        return self.units_path(stage).exists()


def unit_id(layer: str, index: int) -> str:
    """The id of unit `index` of `layer`: ``"<module path>#<index>"``."""
    return f"{layer}#{int(index)}"


def parse_unit_id(unit: str) -> tuple[str, int]:
    """Split ``"<module path>#<index>"`` into (layer, index)."""
    layer, sep, index = unit.rpartition("#")
    if not sep or not index.isdigit():
        raise AudioDissectError(f"bad unit id {unit!r}", hint="unit ids look like 'classifier#3'")
    return layer, int(index)
