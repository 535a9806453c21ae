"""The run directory: the one place that names every file of a run and how it is read.

Every file a run holds is named here, and only here (:data:`SCHEMA` lists them
all, with glob patterns where a name varies; a file that matches none is not
the run's)::

    manifest.json              format version; per stage: cache key, readable key parts, code version, time, facts
    config.json                the resolved settings of the last run
    target.json                how to reopen the model (its spec, or the import path of a user's factory)
    clips.jsonl                one record per clip (id, label, split, metadata, path)
    logits.npy                 (N, n_classes) float32
    activations/<layer>.npy    (N, U) float32, rows in clip order
    frames/<layer>/            frame-level activations of a layer recorded along time: values.npy (F, U)
                               float32, offsets.npy (N + 1,) int64, spans.npy (F, 2) float64 seconds
    events.csv                 timed events inside the clips (clip, onset, offset, label), when the probe has them
    layers.txt                 a short text overview of the recorded layers
    descriptions.json          {clip id: description}
    concepts.txt               the concept set, one per line
    evidence/<method>.npy      (N, C) float32 evidence of TAB / DB
    units/<stage>.jsonl        one record per unit (and method) of identify, summarize, score
    evaluation/last_layer.csv  last-layer dissection accuracy
    score/                     explanation-score tables
    pruning/                   selections, ablation results, pruning, class-drop and importance tables
    planted/                   planted-unit benchmark tables
    sae/<layer>/               a sparse autoencoder on one layer: SAELens's cfg.json and sae_weights.safetensors,
                               and training.json (trained here) or source.json (copied from elsewhere)
    analysis/                  the paper's analyses (CSV, JSON, PNG)
    report/                    the static HTML report
    cache/                     LLM answers (llm.sqlite) and other per-run caches
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .cache import (gc_paused, load_npy, plain_name, read_json, read_jsonl, save_npy, write_json, write_jsonl,
                    write_text)
from .errors import AudioDissectError, unknown_name_error, write_error
from .probes.base import PROBE, ClipInfo, ProbeSet
from .records import (UNIT_RECORDS, ConceptRanking, ConceptRankingBlock, ExplanationScore,  # noqa: F401 (re-
                      ExplanationScoreBlock, PruneRow, Record, UnitName, UnitRecord,      # exported: the run's
                      UnitSummary, parse_unit_id, unit_id)                                # record types)

if TYPE_CHECKING:
    from .arrays import RowSubset
    from .frames import FrameActivations

#: The longest file name most file systems take, in bytes.
MAX_NAME_BYTES = 255

#: Version of the run directory's record formats; a run written by a newer version is refused.
FORMAT_VERSION = 2

MANIFEST = "manifest.json"
CONFIG = "config.json"
TARGET = "target.json"
CLIPS = "clips.jsonl"
LOGITS = "logits.npy"
ACTIVATIONS = "activations"
ACTIVATION_FILE = "activations/{layer}.npy"
SHARDS = "activations/shards/{key}"
#: Frame-level activations of one layer (:mod:`audiodissect.frames`): values, clip offsets and time spans.
FRAMES = "frames"
FRAME_VALUES = "frames/{layer}/values.npy"
FRAME_OFFSETS = "frames/{layer}/offsets.npy"
FRAME_SPANS = "frames/{layer}/spans.npy"
EVENTS = "events.csv"
LAYERS_OVERVIEW = "layers.txt"
DESCRIPTIONS = "descriptions.json"
CONCEPTS = "concepts.txt"
EVIDENCE = "evidence"
EVIDENCE_FILE = "evidence/{method}.npy"
UNITS = "units"
UNITS_FILE = "units/{stage}.jsonl"
EVALUATION = "evaluation"
LAST_LAYER = "evaluation/last_layer.csv"
SCORE = "score"
SCORE_SUMMARY = "score/summary.csv"
SCORE_BY_LAYER = "score/by_layer.md"
PRUNING = "pruning"
PRUNING_BASELINE = "pruning/baseline.json"
PRUNING_BASELINE_LOGITS = "pruning/baseline_logits.npy"
PRUNING_RESULTS = "pruning/results.jsonl"
PRUNING_TABLE = "pruning/table.jsonl"
PRUNING_TABLE_CSV = "pruning/table.csv"
#: Per pruned concept (``<concept>`` its slug): its selections and their measured rows.
PRUNING_CONCEPT_SELECTION = "pruning/{concept}/selection-{label}.json"
PRUNING_CONCEPT_RESULTS = "pruning/{concept}/results.jsonl"
CLASS_DROP_CSV = "pruning/class_drop.csv"
CLASS_DROP_JSON = "pruning/class_drop.json"
CLASS_DROP_PNG = "pruning/class_drop.png"
IMPORTANCE_ROWS = "pruning/importance.jsonl"
IMPORTANCE_JSON = "pruning/importance.json"
IMPORTANCE_PNG = "pruning/importance.png"
IMPORTANCE_PROPERTY_PNG = "pruning/importance_{property}.png"
PLANTED = "planted"
PLANTED_TABLE = "planted/table.csv"
PLANTED_SUMMARIES = "planted/summaries.csv"
PLANTED_SUMMARY_TEXTS = "planted/summary_texts.jsonl"
#: A sparse autoencoder on one layer, in SAELens's format, and where it came from.
SAE = "sae"
SAE_DIR = "sae/{layer}"
SAE_CFG = "sae/{layer}/cfg.json"
SAE_WEIGHTS = "sae/{layer}/sae_weights.safetensors"
SAE_TRAINING = "sae/{layer}/training.json"
SAE_SOURCE = "sae/{layer}/source.json"
ANALYSIS = "analysis"
ANALYSIS_SUMMARY = "analysis/summary.json"
ADJECTIVE_COUNTS_CSV = "analysis/adjective_counts.csv"
ADJECTIVE_COUNTS_PNG = "analysis/adjective_counts.png"
ADJECTIVES_BY_LAYER_CSV = "analysis/adjectives_by_layer.csv"
ADJECTIVES_BY_LAYER_PNG = "analysis/adjectives_by_layer.png"
UNINTERPRETABLE_CSV = "analysis/uninterpretable.csv"
UNINTERPRETABLE_PNG = "analysis/uninterpretable.png"
UNINTERPRETABLE_UNITS = "analysis/uninterpretable_units.jsonl"
CLUSTERS = "analysis/clusters.json"
LAST_LAYER_PNG = "analysis/last_layer.png"
REPORT = "report"
REPORT_INDEX = "report/index.html"
REPORT_MARKER = "report/report.json"
REPORT_UNIT_PAGE = "report/units/{slug}.html"
REPORT_MEDIA = "report/media"
REPORT_FIGURES = "report/figures"
CACHE = "cache"
LLM_CACHE = "cache/llm.sqlite"

#: Every file a run directory may hold: (glob pattern relative to the run, what it is).
SCHEMA: tuple[tuple[str, str], ...] = (
    (MANIFEST, "format version and every stage's key, settings digest, time and facts"),
    (CONFIG, "the resolved settings of the last command"),
    (TARGET, "how to reopen the model"),
    (CLIPS, "one record per clip"),
    (LOGITS, "(N, n_classes) logits"),
    (f"{ACTIVATIONS}/*.npy", "(N, U) activations of one layer"),
    (f"{ACTIVATIONS}/shards/*/*", "an unfinished recording's shards (removed when it is merged)"),
    (f"{ACTIVATIONS}/shards/*/*/*.npy", "one shard's rows of one layer"),
    (FRAME_VALUES.format(layer="*"), "(F, U) frame-level activations of one layer, clip after clip"),
    (FRAME_OFFSETS.format(layer="*"), "(N + 1,) where each clip's frames start"),
    (FRAME_SPANS.format(layer="*"), "(F, 2) each frame's start and end in seconds (float64)"),
    (EVENTS, "timed events inside the clips"),
    (LAYERS_OVERVIEW, "a text overview of the recorded layers"),
    (DESCRIPTIONS, "one description per clip"),
    (CONCEPTS, "the concept set"),
    (f"{EVIDENCE}/*.npy", "(N, C) evidence of one method"),
    (f"{UNITS}/*.jsonl", "per-unit records of one stage"),
    (LAST_LAYER, "last-layer dissection accuracy"),
    (SCORE_SUMMARY, "explanation scores per kind and layer"),
    (SCORE_BY_LAYER, "mean scores per explanation and layer"),
    (PRUNING_BASELINE, "the unpruned model's held-out logits: key and clips"),
    (PRUNING_BASELINE_LOGITS, "the unpruned model's held-out logits"),
    (PRUNING_RESULTS, "one row per pruned (concept, selection)"),
    (PRUNING_TABLE, "the pruning table, one row per strategy"),
    (PRUNING_TABLE_CSV, "the pruning table as CSV"),
    (PRUNING_CONCEPT_SELECTION.format(concept="*", label="*"), "the units one strategy chose for one concept"),
    (PRUNING_CONCEPT_RESULTS.format(concept="*"), "the measured rows of one concept's selections"),
    (CLASS_DROP_CSV, "per (strategy, concept, class): mean confidence change"),
    (CLASS_DROP_JSON, "per strategy: how often the concept's own class loses most"),
    (CLASS_DROP_PNG, "concept x class heat maps"),
    (IMPORTANCE_ROWS, "accuracy per pruned share and ranking"),
    (IMPORTANCE_JSON, "the feature-importance curves"),
    (IMPORTANCE_PNG, "every feature-importance curve"),
    (IMPORTANCE_PROPERTY_PNG.format(property="*"), "one property's curve against random"),
    (PLANTED_TABLE, "planted-unit recovery per method and similarity"),
    (PLANTED_SUMMARIES, "how often planted units' summaries say their concept"),
    (PLANTED_SUMMARY_TEXTS, "each planted unit's summaries and true concept"),
    (SAE_CFG.format(layer="*"), "an SAE's config (SAELens's cfg.json)"),
    (SAE_WEIGHTS.format(layer="*"), "an SAE's weights (SAELens's safetensors)"),
    (SAE_TRAINING.format(layer="*"), "how an SAE was trained and how well it reconstructs"),
    (SAE_SOURCE.format(layer="*"), "the folder an SAE was copied from"),
    (ANALYSIS_SUMMARY, "the analyses' numbers and files"),
    (ADJECTIVE_COUNTS_CSV, "open-set adjective counts"),
    (ADJECTIVE_COUNTS_PNG, "open-set adjective counts"),
    (ADJECTIVES_BY_LAYER_CSV, "adjectives per unit by layer"),
    (ADJECTIVES_BY_LAYER_PNG, "adjectives per unit by layer"),
    (UNINTERPRETABLE_CSV, "uninterpretable share per layer"),
    (UNINTERPRETABLE_PNG, "uninterpretable share per layer"),
    (UNINTERPRETABLE_UNITS, "per unit: its top clips' clusters"),
    (CLUSTERS, "example sentences per description cluster"),
    (LAST_LAYER_PNG, "last-layer accuracy"),
    (REPORT_INDEX, "the report's front page"),
    (REPORT_MARKER, "the report's own list of pages"),
    (REPORT_UNIT_PAGE.format(slug="*"), "one unit's page"),
    (f"{REPORT_MEDIA}/*.wav", "a clip's audio"),
    (f"{REPORT_MEDIA}/*.png", "a clip's spectrogram"),
    (f"{REPORT_FIGURES}/*.png", "a copy of an analysis or evaluation plot"),
    (LLM_CACHE, "every LLM answer of the run"),
    (f"{LLM_CACHE}-journal", "sqlite's journal while an answer is written"),
    (f"{LLM_CACHE}-wal", "sqlite's write-ahead log of the answers (folded into the file when the cache closes)"),
    (f"{LLM_CACHE}-shm", "sqlite's index of the write-ahead log while the cache is open"),
)


def schema_entry(relative: str) -> str | None:
    """The :data:`SCHEMA` pattern a run-relative path (``/``-separated) matches, or None."""
    for pattern, _ in SCHEMA:
        if fnmatch.fnmatchcase(relative, pattern) and relative.count("/") == pattern.count("/"):
            return pattern
    return None


class RunDir:
    """Paths and cached state of one run directory.

    Every path of the run comes from :meth:`file`, which keeps it inside the
    run: a part that would climb out (``..``, ``/``) is refused, and so is a
    symbolic link anywhere below the run's folder (a run directory may come
    from someone else, and a link in it could point reads or writes anywhere);
    the whole folder is checked for links when it is opened.

    Parameters
    ----------
    path : path-like
    create : bool
        Create the folder when missing (default; :attr:`created` says whether
        it was). With ``create=False`` a folder that is not a run directory
        (no ``manifest.json``) is an error, so a mistyped path never becomes
        an empty run.

    Raises
    ------
    AudioDissectError
        For a missing run (with ``create=False``), a path that is a file, or a
        symbolic link inside the run's folder.
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = True):
        self.path = Path(path)
        self._clips: tuple[tuple[int, int, int], tuple[ClipInfo, ...]] | None = None  # (file version, clips)
        if not create:
            if not self.path.is_dir():
                raise AudioDissectError(f"no run directory at {self.path}",
                                        hint="give the folder a dissection wrote (e.g. runs/default)")
            if not (self.path / MANIFEST).is_file():
                raise AudioDissectError(f"{self.path} is not a run directory (it has no {MANIFEST})",
                                        hint="give the folder a dissection wrote (e.g. runs/default)")
        elif self.path.exists() and not self.path.is_dir():
            raise AudioDissectError(f"the run directory {self.path} is a file, not a folder",
                                    hint="choose another --out folder")
        refuse_links(self.path)
        self.created = create and not self.path.exists()
        if self.created:
            try:
                self.path.mkdir(parents=True)
            except OSError as exc:
                raise write_error(exc, self.path) from None

    def file(self, name: str, **parts: str) -> Path:
        """The path of one of the run's files or folders: a name defined in this module, its ``{}`` parts filled.

        Raises
        ------
        AudioDissectError
            When a part is empty, ``.``/``..`` or holds a path separator, or the
            path runs through a symbolic link below the run's folder.
        """
        for key, value in parts.items():
            text = str(value)
            if not plain_name(text):
                raise AudioDissectError(f"the {key} {text!r} cannot name a file inside the run directory "
                                        f"{self.path}", hint="names of layers, stages and concepts hold no path "
                                                             "separators and are not '.' or '..'")
            if len(os.fsencode(text)) > MAX_NAME_BYTES - 32:  # room for a suffix (.npy) and a temporary file's name
                raise AudioDissectError(f"the {key} {text[:40]!r}... ({len(text)} characters) is too long to name "
                                        f"a file inside the run directory {self.path}",
                                        hint=f"names of layers, stages and concepts take at most "
                                             f"{MAX_NAME_BYTES - 32} bytes")
        path = self.path / (name.format(**parts) if parts else name)
        _refuse_link_on(self.path, path)
        return path

    def remove_if_empty(self) -> bool:
        """Remove the run's folder when this object created it and nothing was written into it; True if removed.

        A call that fails before it writes anything (a typo in a setting) then
        leaves no empty folder behind.
        """
        if not self.created or not self.path.is_dir() or any(self.path.iterdir()):
            return False
        self.path.rmdir()
        return True

    def unnamed_files(self) -> list[str]:
        """Files under the run directory that :data:`SCHEMA` does not name (run-relative, sorted)."""
        found = []
        for path in sorted(self.path.rglob("*")):
            if path.is_file():
                relative = path.relative_to(self.path).as_posix()
                if schema_entry(relative) is None:
                    found.append(relative)
        return found

    # -- manifest -----------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.file(MANIFEST)

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"format": FORMAT_VERSION, "stages": {}}
        manifest = read_json(self.manifest_path)
        if int(manifest.get("format", 1)) > FORMAT_VERSION:
            raise AudioDissectError(f"{self.path} was written by a newer audiodissect "
                                    f"(format {manifest['format']}, this version reads up to {FORMAT_VERSION})",
                                    hint="upgrade audiodissect")
        return manifest

    def stage_current(self, stage: str, key: str) -> bool:
        """True when `stage` finished before with the same cache `key`."""
        return self.manifest()["stages"].get(stage, {}).get("key") == key

    def finish_stage(self, stage: str, key: str, section: dict[str, Any]) -> None:
        """Record that `stage` finished with cache `key`; `section` is kept in the manifest."""
        manifest = self.manifest()
        manifest["format"] = FORMAT_VERSION
        manifest["stages"][stage] = {**section, "key": key}
        write_json(self.manifest_path, manifest)

    def stage(self, stage: str) -> dict[str, Any]:
        """The manifest section of a finished stage, or a clear error naming the command to run."""
        section = self.manifest()["stages"].get(stage)
        if section is None:
            raise AudioDissectError(f"{self.path} has no results of the {stage!r} stage",
                                    hint=f"run `audiodissect {stage} --run {self.path}` (or `audiodissect run`) "
                                         "first")
        return section

    def dropped_clips(self) -> list[dict[str, str]]:
        """The probing set's clips the recording left out (``[{"id", "reason"}]``: non-finite audio,
        activations or logits); the run's arrays and ``clips.jsonl`` hold the others."""
        return list(self.manifest()["stages"].get("record", {}).get("dropped_clips", []))

    def has_stage(self, stage: str) -> bool:
        return stage in self.manifest()["stages"]

    # -- settings -------------------------------------------------------------
    def read_config(self) -> dict[str, Any] | None:
        """The saved settings (``config.json``) as plain data, or None."""
        path = self.file(CONFIG)
        return read_json(path) if path.exists() else None

    def write_config(self, data: dict[str, Any]) -> None:
        write_json(self.file(CONFIG), data)

    def read_target(self) -> dict[str, Any] | None:
        """How to reopen the run's model (``target.json``), or None for runs that predate it."""
        path = self.file(TARGET)
        return read_json(path) if path.exists() else None

    def write_target(self, data: dict[str, Any]) -> None:
        write_json(self.file(TARGET), data)

    # -- clips ----------------------------------------------------------------
    def write_clips(self, probe: ProbeSet) -> None:
        write_jsonl(self.file(CLIPS), (c.to_record() for c in probe.clips))

    def has_clips(self) -> bool:
        return (self.file(CLIPS)).exists()

    def clips(self) -> list[ClipInfo]:
        """The recorded clips, in row order: read once while ``clips.jsonl`` is the same file (a stage asks
        often; a rewrite, atomic and so a new file, is read again)."""
        path = self.file(CLIPS)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise AudioDissectError(f"{self.path} holds no recorded clips",
                                    hint="run `audiodissect record` first") from None
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._clips is None or self._clips[0] != version:
            self._clips = (version, tuple(ClipInfo(**r) for r in read_jsonl(path)))
        return list(self._clips[1])

    def probe_rows(self) -> np.ndarray:
        """Row indices of the probing split (clips that may describe units), shape (n,)."""
        return np.array([i for i, c in enumerate(self.clips()) if c.split == PROBE], dtype=np.int64)

    # -- arrays ---------------------------------------------------------------
    def activation_path(self, layer: str) -> Path:
        return self.file(ACTIVATION_FILE, layer=layer)

    def shard_dir(self, key: str) -> Path:
        """Where the record stage keeps finished shards of the recording with cache `key`."""
        return self.file(SHARDS, key=key)

    def save_activations(self, layer: str, array: np.ndarray) -> None:
        save_npy(self.activation_path(layer), np.asarray(array, dtype=np.float32))

    def activations(self, layer: str, *, mmap: bool = True) -> np.ndarray:
        """(N, U) float32 activations of `layer`."""
        path = self.activation_path(layer)
        if not path.exists():
            from .errors import unknown_name_error

            raise unknown_name_error("recorded layer", layer, self.layers())
        return load_npy(path, mmap=mmap)

    def frame_layers(self) -> list[str]:
        """Layers recorded frame by frame (``frames/<layer>/``), in recording order."""
        return list(self.stage("record").get("frames") or {})

    def frames(self, layer: str) -> FrameActivations:
        """`layer`'s frame-level activations, the values memory-mapped (:class:`~audiodissect.frames.FrameActivations`)."""
        from .frames import FrameActivations

        if layer not in self.frame_layers():
            raise AudioDissectError(f"layer {layer!r} of {self.path} was not recorded frame by frame",
                                    hint="record it with frames (setting record.frames, e.g. --frames "
                                         f"{layer!r} or '*')" + (f"; frame layers: {', '.join(self.frame_layers())}"
                                                                 if self.frame_layers() else ""))
        files = {name: self.file(pattern, layer=layer) for name, pattern in
                 (("values", FRAME_VALUES), ("offsets", FRAME_OFFSETS), ("spans", FRAME_SPANS))}
        missing = [str(path) for path in files.values() if not path.is_file()]
        if missing:
            raise AudioDissectError(f"the frames of layer {layer!r} lack {', '.join(missing)}",
                                    hint="record the layer's frames again: audiodissect record --frames LAYER")
        values, offsets, spans = (load_npy(files[name], mmap=name != "offsets") for name in files)
        check_frames(values, offsets, spans, n_clips=len(self.clips()),
                     width=self.stage("record").get("layers", {}).get(layer), where=str(files["values"].parent))
        return FrameActivations(values=values, offsets=offsets, spans=spans)

    def events(self) -> list[Any]:
        """The timed events inside the run's clips (``events.csv``; empty when the probing set has none)."""
        from .probes.events import read_events

        path = self.file(EVENTS)
        return read_events(path) if path.exists() else []

    def layers(self) -> list[str]:
        """Recorded layers, in recording order (the order the user gave, or the forward pass reached)."""
        return list(self.stage("record")["layers"])

    def output_layer(self) -> str | None:
        """The recorded layer whose units are the model's classes (None when there is none).

        The record stage stores it (the ``record.output_layer`` setting, else the
        layer whose pooled activations are the logits); for runs recorded before
        that, the last recorded layer with one unit per class name.
        """
        record = self.stage("record")
        if "output_layer" in record:
            return record["output_layer"]
        return guess_output_layer(record["layers"], record.get("class_names"))

    def probe_activations(self) -> dict[str, RowSubset]:
        """Each recorded layer's activations on the probe clips only, {layer: (n_probe, U)}.

        Lazy: a :class:`~audiodissect.arrays.RowSubset` of the memory-mapped
        layer reads only the columns asked for (``np.asarray`` reads it all).
        """
        from .arrays import RowSubset

        rows = self.probe_rows()
        return {layer: RowSubset(self.activations(layer), rows) for layer in self.layers()}

    def save_logits(self, array: np.ndarray) -> None:
        save_npy(self.file(LOGITS), np.asarray(array, dtype=np.float32))

    def logits(self) -> np.ndarray:
        return load_npy(self.file(LOGITS))

    def write_layers_overview(self, text: str) -> None:
        write_text(self.file(LAYERS_OVERVIEW), text)

    def evidence_path(self, method: str) -> Path:
        """``evidence/<method>.npy``: (N, C) evidence of one method over every clip."""
        return self.file(EVIDENCE_FILE, method=method)

    def evidence(self, method: str) -> np.ndarray:
        """One method's stored evidence, ``evidence/<method>.npy``, shape (N, C): every clip, every concept.

        Raises
        ------
        AudioDissectError
            When the identify stage did not store this method's evidence, or the file is damaged.
        """
        path = self.evidence_path(method)
        if not path.exists():
            raise AudioDissectError(f"{self.path} has no {method} evidence",
                                    hint=f"run `audiodissect identify --run {self.path} --method {method}`")
        return load_npy(path)

    # -- descriptions and concepts ----------------------------------------------
    @property
    def descriptions_path(self) -> Path:
        return self.file(DESCRIPTIONS)

    def write_descriptions(self, by_id: dict[str, str]) -> None:
        write_json(self.file(DESCRIPTIONS), by_id)

    def descriptions(self) -> list[str] | None:
        """One description per clip in clip order, from ``descriptions.json``; None before a describe stage.

        Raises
        ------
        AudioDissectError
            When the file lacks some of the run's clips (it belongs to other clips).
        """
        path = self.file(DESCRIPTIONS)
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

    @property
    def concepts_path(self) -> Path:
        return self.file(CONCEPTS)

    def write_concepts(self, concepts: Sequence[str]) -> None:
        write_text(self.file(CONCEPTS), "".join(c + "\n" for c in concepts))

    def concepts(self) -> list[str] | None:
        """The concept set written by the identify stage (``concepts.txt``), or None before it ran."""
        path = self.file(CONCEPTS)
        if not path.exists():
            return None
        return [c for c in path.read_text(encoding="utf-8").split("\n") if c]

    # -- per-unit records -------------------------------------------------------
    def units_path(self, stage: str) -> Path:
        """``units/<stage>.jsonl``: one JSON record per unit (and method) written by `stage`."""
        return self.file(UNITS_FILE, stage=stage)

    @staticmethod
    def unit_record_type(stage: str) -> type[UnitRecord]:
        """The record type of ``units/<stage>.jsonl`` (:data:`audiodissect.records.UNIT_RECORDS`)."""
        if stage not in UNIT_RECORDS:
            raise unknown_name_error("stage with unit records", stage, UNIT_RECORDS)
        return UNIT_RECORDS[stage]

    def write_units(self, stage: str, records: Iterable[UnitRecord | Mapping[str, Any]]) -> None:
        """Write `stage`'s records (records, or mappings read as its record type) to ``units/<stage>.jsonl``."""
        kind = self.unit_record_type(stage)
        write_jsonl(self.units_path(stage), (kind.from_json(r).to_json() for r in records))

    def write_blocks(self, stage: str, blocks: Iterable[ConceptRankingBlock | ExplanationScoreBlock]) -> None:
        """Write `stage`'s records, given as blocks (the identify stage's rankings, the score stage's scores), to
        ``units/<stage>.jsonl``: the same file as :meth:`write_units` of their records, without making each."""
        self.unit_record_type(stage)  # an unknown stage is an error before anything is written
        write_text(self.units_path(stage), "".join(line + "\n" for b in blocks for line in b.json_lines()))

    def read_units(self, stage: str) -> list[UnitRecord]:
        """`stage`'s records, typed (:data:`audiodissect.records.UNIT_RECORDS`)."""
        path = self.units_path(stage)
        if not path.exists():
            raise AudioDissectError(f"{self.path} has no {stage!r} results",
                                    hint=f"run `audiodissect {stage} --run {self.path}` first")
        kind = self.unit_record_type(stage)
        with gc_paused():
            return [kind.from_json(r) for r in read_jsonl(path)]

    # -- pruning rows ----------------------------------------------------------------
    def write_prune_rows(self, rows: Iterable[PruneRow | Mapping[str, Any]], *, concept: str | None = None) -> None:
        """Write measured pruning rows: ``pruning/results.jsonl``, or one concept's ``pruning/<concept>/results.jsonl``
        (`concept` its slug)."""
        path = self.file(PRUNING_RESULTS) if concept is None else self.file(PRUNING_CONCEPT_RESULTS, concept=concept)
        write_jsonl(path, (PruneRow.from_json(r).to_json() for r in rows))

    def read_prune_rows(self, *, concept: str | None = None) -> list[PruneRow]:
        """The rows :meth:`write_prune_rows` wrote (empty when there are none)."""
        path = self.file(PRUNING_RESULTS) if concept is None else self.file(PRUNING_CONCEPT_RESULTS, concept=concept)
        return [PruneRow.from_json(r) for r in read_jsonl(path)] if path.exists() else []

    def has_units(self, stage: str) -> bool:
        return self.units_path(stage).exists()

    # -- result folders -----------------------------------------------------------
    @property
    def last_layer_path(self) -> Path:
        """``evaluation/last_layer.csv``."""
        return self.file(LAST_LAYER)

    @property
    def score_dir(self) -> Path:
        return self.file(SCORE)

    @property
    def pruning_dir(self) -> Path:
        return self.file(PRUNING)

    @property
    def planted_dir(self) -> Path:
        return self.file(PLANTED)

    @property
    def analysis_dir(self) -> Path:
        return self.file(ANALYSIS)

    @property
    def report_dir(self) -> Path:
        return self.file(REPORT)

    @property
    def llm_cache_path(self) -> Path:
        """``cache/llm.sqlite``: every LLM answer of the run, keyed by backend, prompt and settings."""
        return self.file(LLM_CACHE)

    def probe_cache(self, probe: Any) -> Path:
        """Where results about the clips' audio are cached, shared by every run on the same clips.

        Descriptions, tag logits and the scoring's audio side depend only on the
        clips' audio (:meth:`ProbeSet.audio_key <audiodissect.probes.base.ProbeSet.audio_key>`:
        not their labels or splits), so they live under the user cache
        (``$AUDIODISSECT_CACHE``, default ``~/.cache/audiodissect``) in
        ``probes/<audio key>``: a second run on the same clips (another model,
        other layers, other labels) reuses them, and a probing set whose audio
        changed never reads results of the old audio. What depends on the labels
        too (evidence matrices) carries the set's full content key in its file name.
        """
        from .cache import cache_dir

        path = cache_dir() / "probes" / probe.audio_key()[:16]
        path.mkdir(parents=True, exist_ok=True)
        return path


def _link_error(link: Path) -> AudioDissectError:
    try:
        to = f" (to {os.readlink(link)})"
    except OSError:
        to = ""
    return AudioDissectError(f"{link} is a symbolic link{to}; a run directory holds no links, so nothing is read or "
                             "written through one", hint="remove the link, or copy what it points to into the run "
                                                         "(cp -rL) if you trust it")


def refuse_links(root: Path) -> None:
    """Raise :class:`AudioDissectError` naming the first symbolic link below `root` (`root` itself may be one)."""
    if not root.is_dir():
        return
    for folder, dirs, files in os.walk(root):  # links to folders are listed in dirs, never followed
        for name in sorted(dirs + files):
            if os.path.islink(os.path.join(folder, name)):
                raise _link_error(Path(folder) / name)


def _refuse_link_on(root: Path, path: Path) -> None:
    """Refuse `path` (below `root`) when one of its parts below `root` is a symbolic link."""
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        if os.path.islink(current):
            raise _link_error(current)
        if not os.path.lexists(current):
            return


def check_frames(values: np.ndarray, offsets: np.ndarray, spans: np.ndarray, *, n_clips: int, width: Any,
                 where: str) -> None:
    """Refuse frame arrays read from a run that do not fit together (:mod:`audiodissect.frames`'s layout).

    `values` must be (F, U) real numbers (U = `width` when the manifest gives
    it), `offsets` (`n_clips` + 1,) integers rising from 0 to F with at least
    one frame per clip, and `spans` (F, 2) finite seconds, each ending no
    earlier than it starts. The values are not read here (they may be large);
    the offsets and spans are.

    Raises
    ------
    AudioDissectError
        Naming `where` and the first thing that does not fit.
    """
    def bad(what: str) -> AudioDissectError:
        return AudioDissectError(f"the frames in {where} are damaged: {what}",
                                 hint="record the layer's frames again: audiodissect record --frames LAYER")

    if values.ndim != 2 or not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)):
        raise bad(f"values.npy is {values.dtype} of shape {values.shape}, not (frames, units) numbers")
    if isinstance(width, int) and not isinstance(width, bool) and values.shape[1] != width:
        raise bad(f"values.npy has {values.shape[1]} units, the manifest says the layer has {width}")
    if offsets.ndim != 1 or not np.issubdtype(offsets.dtype, np.integer):
        raise bad(f"offsets.npy is {offsets.dtype} of shape {offsets.shape}, not (clips + 1,) integers")
    if len(offsets) != n_clips + 1:
        raise bad(f"offsets.npy has {len(offsets)} entries for {n_clips} clips (it needs one per clip, plus one)")
    if offsets[0] != 0 or offsets[-1] != len(values) or np.any(np.diff(offsets) < 1):
        raise bad(f"offsets.npy does not rise from 0 to {len(values)} (the frame count) with at least one frame "
                  "per clip")
    if spans.shape != (len(values), 2) or not np.issubdtype(spans.dtype, np.floating):
        raise bad(f"spans.npy is {spans.dtype} of shape {spans.shape}, not ({len(values)}, 2) seconds")
    seconds = np.asarray(spans, dtype=np.float64)
    if not np.isfinite(seconds).all() or np.any(seconds[:, 1] < seconds[:, 0]):
        raise bad("spans.npy holds a frame whose start or end is not a number, or that ends before it starts")


def guess_output_layer(layers: dict[str, int], class_names: Sequence[str] | None) -> str | None:
    """The last of `layers` ({path: unit count}) with one unit per class name: the rule for runs recorded
    before the record stage stored its output layer."""
    if not class_names:
        return None
    matches = [name for name, units in layers.items() if units == len(class_names)]
    return matches[-1] if matches else None

