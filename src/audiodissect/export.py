"""Sharing results outside the report: a run's units, names, explanations, scores and top-clip references as
tables others load without audiodissect, plus one Neuronpedia-style JSON file per unit.

An export is a new folder (never inside the run directory), written beside its
destination and renamed to it once complete (a failed export leaves nothing
behind), holding:

``export.json``
    What it is: format version, the model, the probing set, the layers, the
    class names, the tables and their row counts.
``units``
    One row per recorded unit: its id, layer, index, class (output units), name
    and status (``named``, ``ambiguous``, ``unexplained``), the evidence that
    names it (source, similarity, score, z, margin, q-value, runner-up), its
    summaries (S_high, calibrated), open concepts, ICL choice and activation
    statistics over the probe clips (mean, std, max, min, sparsity).
``concepts``
    One row per unit, method, similarity and rank: the closed-set concept and its score.
``explanations``
    One row per unit, explanation and predictor: its text and scores (Spearman,
    Pearson, the Spearman interval, detection AUPRC and balanced accuracy) when
    the score stage ran; otherwise each explanation's text without scores.
``top_clips``
    One row per unit, side (``top``/``bottom``) and rank: the clip's id, label,
    split, source path and the unit's activation on it (the audio stays where
    it is: references, not copies).
``clips``
    One row per clip: id, label, split, path and description.
``neuronpedia/<layer>/<index>.json``
    One file per unit (one compact JSON object), in the spirit of Neuronpedia's feature exports:
    ``modelId``, ``layer``, ``index``, ``explanations`` (``description``,
    ``typeName``, ``explanationModelName``, ``scores``), ``activations`` (the
    top clips with their values) and the unit's statistics.

The tables are Parquet files (``<table>.parquet``, read with
``pandas.read_parquet``), JSON lines (``<table>.jsonl``, read with
``pandas.read_json(path, lines=True)``), or one Hugging Face ``DatasetDict``
whose splits are the tables (``datasets.load_from_disk(path)["units"]``).
:func:`read_export` reads any of them back. An export is shared like a run
directory, so :func:`read_export` reads only the tables of their usual names
in its folder, whatever ``export.json`` says, and a unit's file only inside it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .cache import json_line, plain_name, read_json, write_json, write_jsonl
from .errors import AudioDissectError, unknown_name_error, write_error
from .probes.base import PROBE
from .records import unit_id
from .rundir import RunDir
from .results import STAT_COLUMNS, Activations, output_unit_classes

#: Version of the export's layout; :func:`read_export` refuses a newer one.
EXPORT_FORMAT = 1
FORMATS = ("parquet", "jsonl", "hf-dataset")
TABLES = ("units", "concepts", "explanations", "top_clips", "clips")
MANIFEST = "export.json"
NEURONPEDIA = "neuronpedia"

UNIT_COLUMNS = ("unit", "layer", "index", "class", "name", "status", "name_source", "name_similarity", "name_score",
                "z", "margin", "q_value", "runner_up", "summary", "calibrated_summary", "open_adjectives",
                "open_nouns", "icl", *STAT_COLUMNS)
CONCEPT_COLUMNS = ("unit", "method", "similarity", "rank", "concept", "score")
EXPLANATION_COLUMNS = ("unit", "explanation", "text", "predictor", "spearman", "pearson", "spearman_low",
                       "spearman_high", "detection_auprc", "detection_bacc", "n_clips")
TOP_CLIP_COLUMNS = ("unit", "side", "rank", "clip", "label", "split", "path", "activation")
CLIP_COLUMNS = ("clip", "label", "split", "path", "description")
COLUMNS = {"units": UNIT_COLUMNS, "concepts": CONCEPT_COLUMNS, "explanations": EXPLANATION_COLUMNS,
           "top_clips": TOP_CLIP_COLUMNS, "clips": CLIP_COLUMNS}


@dataclasses.dataclass
class Export:
    """An export read back (:func:`read_export`): its manifest and its tables as DataFrames.

    Attributes
    ----------
    path : Path
    format : str
    manifest : dict
        ``export.json``.
    tables : dict of str to pandas.DataFrame
        ``units``, ``concepts``, ``explanations``, ``top_clips``, ``clips``.
    """

    path: Path
    format: str
    manifest: dict[str, Any]
    tables: dict[str, Any]

    def __getitem__(self, table: str) -> Any:
        if table not in self.tables:
            raise unknown_name_error("export table", table, self.tables)
        return self.tables[table]

    def unit_json(self, unit: str) -> dict[str, Any]:
        """The Neuronpedia-style JSON of one unit (``neuronpedia/<layer>/<index>.json``)."""
        try:
            path = _inside(self.path, NEURONPEDIA, *_unit_parts(str(unit)))
        except AudioDissectError:
            path = None
        if path is None or not path.is_file():
            raise AudioDissectError(f"the export at {self.path} has no unit file for {unit!r}")
        return read_json(path)


def _clean(value: Any) -> Any:
    """Plain JSON-able values: numpy scalars as Python numbers, NaN and infinity as None."""
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    return value


#: Columns of whole numbers and of lists of texts; every other column is a number (:data:`NUMBER_COLUMNS`) or a text.
INTEGER_COLUMNS = ("index", "rank", "n_clips")
LIST_COLUMNS = ("open_adjectives", "open_nouns")
NUMBER_COLUMNS = ("name_score", "z", "margin", "q_value", "score", "activation", "spearman", "pearson",
                  "spearman_low", "spearman_high", "detection_auprc", "detection_bacc", *STAT_COLUMNS)


_NOT_TEXT_COLUMNS = frozenset(INTEGER_COLUMNS + LIST_COLUMNS + NUMBER_COLUMNS)
_FLOAT_COLUMNS = frozenset(NUMBER_COLUMNS) - frozenset(INTEGER_COLUMNS)


def _typed(column: str, value: Any) -> Any:
    """`value` as its column's type (a run's records are read as they are: a label may be a number, a score a
    text); what cannot be read as that type is None."""
    kind = type(value)  # the usual cases first: a run's tables have millions of values
    if kind is str and column not in _NOT_TEXT_COLUMNS:
        return value
    if kind is float and column in _FLOAT_COLUMNS:
        return value if math.isfinite(value) else None
    if kind is int and column in INTEGER_COLUMNS:
        return value
    value = _clean(value)
    if value is None:
        return None
    if column in LIST_COLUMNS:
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if column in INTEGER_COLUMNS or column in NUMBER_COLUMNS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return int(value) if column in INTEGER_COLUMNS else _clean(float(value))
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _rows(table: str, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    columns = COLUMNS[table]
    return [{c: _typed(c, r.get(c)) for c in columns} for r in rows]


def collect(run: RunDir, *, top: int = 5) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any],
                                                    dict[str, dict[str, Any]]]:
    """The export's tables, manifest facts and Neuronpedia-style unit documents of `run`.

    Parameters
    ----------
    run : RunDir
    top : int
        Top and bottom clips per unit (over the probe clips).

    Returns
    -------
    tables : dict of str to list of dict
    facts : dict
    units : dict of str to dict
        The Neuronpedia-style document of each unit.
    """
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise AudioDissectError(f"top must be a whole number of at least 1, got {top!r}")
    record = run.stage("record")
    layers = dict(record["layers"])
    class_names = record.get("class_names")
    clips = run.clips()
    acts = Activations(layers=layers, clips=clips, output_layer=run.output_layer(), run_path=run.path,
                       class_names=list(class_names) if class_names else None)
    for layer, width in layers.items():  # the manifest is the run's word: it must agree with the arrays
        columns = acts[layer].shape[1] if acts[layer].ndim == 2 else None
        if isinstance(width, bool) or not isinstance(width, int) or width != columns:
            raise AudioDissectError(f"{run.manifest_path} gives layer {layer!r} {width!r} units, but its recorded "
                                    f"activations have {columns} columns",
                                    hint="the run's manifest and arrays disagree: record it again")
    classes = output_unit_classes(acts.output_layer, class_names, layers)
    descriptions = run.descriptions() if run.descriptions_path.exists() else None
    names = {r.unit: r for r in run.read_units("names")} if run.has_units("names") else {}
    rankings = run.read_units("identify") if run.has_units("identify") else []
    summaries = {r.unit: r for r in run.read_units("summarize")} if run.has_units("summarize") else {}
    scores = run.read_units("score") if run.has_units("score") else []
    stats = {s["unit"]: s for s in acts.stat_rows()}

    units, concepts, explanations, top_clips = [], [], [], []
    for layer, width in layers.items():
        for index in range(width):
            uid = unit_id(layer, index)
            name, summary = names.get(uid), summaries.get(uid)
            units.append({"unit": uid, "layer": layer, "index": index, "class": classes.get(uid),
                          "name": getattr(name, "name", None), "status": getattr(name, "status", None),
                          "name_source": getattr(name, "method", None), "name_similarity": getattr(name, "similarity", None),
                          "name_score": getattr(name, "score", None), "z": getattr(name, "z", None),
                          "margin": getattr(name, "margin", None), "q_value": getattr(name, "q_value", None),
                          "runner_up": getattr(name, "runner_up", None),
                          "summary": summary.s_high if summary else None,
                          "calibrated_summary": summary.calibrated_summary if summary else None,
                          "open_adjectives": list(summary.acoustic_adjectives) if summary else [],
                          "open_nouns": list(summary.nouns) if summary else [],
                          "icl": summary.icl_top1 if summary else None,
                          **{c: stats[uid][c] for c in STAT_COLUMNS}})
    for r in rankings:
        for rank, (concept, score) in enumerate(zip(r.concepts, r.scores), start=1):
            concepts.append({"unit": r.unit, "method": r.method, "similarity": r.similarity, "rank": rank,
                             "concept": concept, "score": score})
    if scores:
        explanations = [{"unit": s.unit, "explanation": s.explanation, "text": s.text, "predictor": s.predictor,
                         "spearman": s.spearman, "pearson": s.pearson, "spearman_low": s.spearman_low,
                         "spearman_high": s.spearman_high, "detection_auprc": s.detection_auprc,
                         "detection_bacc": s.detection_bacc, "n_clips": s.n_clips} for s in scores]
    else:  # the texts without scores
        for r in rankings:
            if r.concepts:
                kind = f"{r.method}/{r.similarity}" if r.similarity else r.method
                explanations.append({"unit": r.unit, "explanation": kind, "text": r.concepts[0]})
        for s in summaries.values():
            for kind, text in (("summary", s.s_high), ("calibrated", s.calibrated_summary),
                               ("open_concepts", ", ".join([*s.acoustic_adjectives, *s.nouns])), ("icl", s.icl_top1)):
                if text:
                    explanations.append({"unit": s.unit, "explanation": kind, "text": text})
    probe_rows = np.array([i for i, c in enumerate(clips) if c.split == PROBE], dtype=np.int64)
    rows = probe_rows if len(probe_rows) else np.arange(len(clips))
    k = min(int(top), len(rows))
    from .arrays import column_blocks

    for layer in layers:
        for units_slice, block in column_blocks(acts[layer], rows=rows):
            block = np.asarray(block, dtype=np.float64)
            order = np.argsort(-block, axis=0, kind="stable")
            low = np.argsort(block, axis=0, kind="stable")
            for j, index in enumerate(range(units_slice.start, units_slice.stop)):
                uid = unit_id(layer, index)
                for side, picked in (("top", order[:k, j]), ("bottom", low[:k, j])):
                    for rank, position in enumerate(picked, start=1):
                        clip = clips[int(rows[position])]
                        top_clips.append({"unit": uid, "side": side, "rank": rank, "clip": clip.id,
                                          "label": clip.label, "split": clip.split, "path": clip.path,
                                          "activation": float(block[position, j])})
    clip_rows = [{"clip": c.id, "label": c.label, "split": c.split, "path": c.path,
                  "description": descriptions[i] if descriptions else None} for i, c in enumerate(clips)]
    tables = {"units": _rows("units", units), "concepts": _rows("concepts", concepts),
              "explanations": _rows("explanations", explanations), "top_clips": _rows("top_clips", top_clips),
              "clips": _rows("clips", clip_rows)}
    config = run.read_config() or {}
    llm = (config.get("summarize") or {}).get("llm")
    facts = {"model": record.get("model"), "probe": record.get("probe"), "pool": record.get("pool"),
             "layers": layers, "output_layer": acts.output_layer, "class_names": class_names,
             "sample_rate": record.get("sample_rate"), "n_clips": len(clips), "top_clips_per_unit": k,
             "scored": bool(scores), "llm": llm}
    documents = _unit_documents(tables, facts)
    return tables, facts, documents


def _unit_documents(tables: dict[str, list[dict[str, Any]]], facts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Neuronpedia-style document of every unit."""
    by_unit: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for table in ("explanations", "top_clips"):
        for row in tables[table]:
            by_unit.setdefault(row["unit"], {}).setdefault(table, []).append(row)
    documents = {}
    for unit in tables["units"]:
        own = by_unit.get(unit["unit"], {})
        grouped: dict[tuple[str, str], dict[str, Any]] = {}
        for row in own.get("explanations", []):
            entry = grouped.setdefault((row["explanation"], row["text"]), {
                "description": row["text"], "typeName": row["explanation"],
                "explanationModelName": facts["llm"] if row["explanation"] in ("summary", "calibrated",
                                                                               "open_concepts", "icl") else "closed-set",
                "scores": []})
            if row.get("predictor"):
                entry["scores"].append({k: row.get(k) for k in ("predictor", "spearman", "pearson", "spearman_low",
                                                                "spearman_high", "detection_auprc",
                                                                "detection_bacc", "n_clips")})
        activations = [{"clip": r["clip"], "label": r["label"], "path": r["path"], "value": r["activation"],
                        "rank": r["rank"], "side": r["side"]} for r in own.get("top_clips", [])]
        documents[unit["unit"]] = {
            "modelId": facts["model"], "layer": unit["layer"], "index": str(unit["index"]), "unit": unit["unit"],
            "name": unit["name"], "status": unit["status"], "class": unit["class"],
            "evidence": {k: unit[k] for k in ("name_source", "name_similarity", "name_score", "z", "margin",
                                               "q_value", "runner_up")},
            "explanations": list(grouped.values()), "activations": activations,
            "maxActApprox": unit["max"], "frac_nonzero": None if unit["sparsity"] is None else 1.0 - unit["sparsity"],
            "statistics": {c: unit[c] for c in STAT_COLUMNS},
        }
    return documents


def _write_unit_documents(out: Path, documents: dict[str, dict[str, Any]], files: dict[str, Path]) -> None:
    """Each unit's document (plain JSON values) as one compact JSON object in its file ``out / files[unit]``.

    `out` is the export's staging folder, renamed whole once complete: no file needs its own atomic write.
    """
    folders: set[Path] = set()
    for unit, document in documents.items():
        path = out / files[unit]
        if path.parent not in folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            folders.add(path.parent)
        path.write_text(json_line(document) + "\n", encoding="utf-8")


def _check_destination(run: RunDir, out: Path) -> None:
    run_path, target = run.path.resolve(), out.resolve()
    if target == run_path or run_path in target.parents:
        raise AudioDissectError(f"the export goes to {out}, inside the run directory {run.path}; an export is written "
                                "outside the run, never into it", hint="choose a folder outside the run")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AudioDissectError(f"{out} exists and is not an empty folder; an export writes a new folder and "
                                "replaces nothing", hint="choose a new --out folder")


def export_run(run: RunDir | str | os.PathLike, out: str | os.PathLike, *, format: str = "parquet", top: int = 5,
               neuronpedia: bool = True) -> Path:
    """Write an export of `run` to the new folder `out` (see the module docstring); returns `out`.

    Parameters
    ----------
    run : RunDir or path
    out : path
        A folder that does not exist yet (or is empty), outside the run.
    format : {"parquet", "jsonl", "hf-dataset"}
    top : int
        Top and bottom clips per unit.
    neuronpedia : bool
        Also write one Neuronpedia-style JSON file per unit.

    Raises
    ------
    AudioDissectError
        For an unknown format, a destination inside the run or not empty, a run
        without recorded activations, or a format whose package is missing.
    """
    if format not in FORMATS:
        raise unknown_name_error("export format", format, FORMATS)
    run = run if isinstance(run, RunDir) else RunDir(run, create=False)
    out = Path(out)
    _check_destination(run, out)
    tables, facts, documents = collect(run, top=top)
    writer = {"parquet": _write_parquet, "jsonl": _write_jsonl, "hf-dataset": _write_hf_dataset}[format]
    writer_check = {"parquet": _need_pyarrow, "hf-dataset": _need_datasets}.get(format)
    if writer_check is not None:
        writer_check()
    if neuronpedia:  # every unit file's name is checked before anything is written
        unit_files = {uid: _inside(Path(), NEURONPEDIA, *_unit_parts(uid)) for uid in documents}
    final = out.absolute()  # "." has no name to stage beside
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    except OSError as exc:
        raise write_error(exc, out) from None
    try:  # the export is written into a new folder beside `out` and renamed to it once complete
        files = writer(staging, tables)
        if neuronpedia:
            _write_unit_documents(staging, documents, unit_files)
        write_json(staging / MANIFEST, {"export_format": EXPORT_FORMAT, "audiodissect": _version(), "format": format,
                                        "tables": {t: {"rows": len(tables[t]), "columns": list(COLUMNS[t]),
                                                       "file": files[t]} for t in TABLES},
                                        "neuronpedia": NEURONPEDIA if neuronpedia else None, **facts})
        if final.is_dir():  # an empty folder the user made (perhaps the working folder): filled, kept itself
            for entry in sorted(staging.iterdir(), key=lambda e: e.name == MANIFEST):  # export.json last
                os.replace(entry, final / entry.name)
            staging.rmdir()
        else:
            os.chmod(staging, 0o777 & ~_umask())
            os.replace(staging, final)
    except AudioDissectError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except Exception as exc:  # a value a table cannot hold, a full disk: nothing half-written is left
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise write_error(exc, out) from None
        raise AudioDissectError(f"cannot write the {format} export of {run.path}: {type(exc).__name__}: {exc}",
                                hint="nothing was written; export --format jsonl may still work") from exc
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _unit_parts(uid: str) -> tuple[str, str]:
    """(layer folder, file name) of a unit's Neuronpedia-style file."""
    layer, _, index = uid.rpartition("#")
    return layer, f"{index}.json"


def _version() -> str | None:
    """The installed audiodissect's version (None when it is not installed, e.g. run from a source tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("audiodissect")
    except PackageNotFoundError:
        return None


def _inside(root: Path, *parts: str) -> Path:
    for part in parts:
        if not plain_name(part):
            raise AudioDissectError(f"{part!r} cannot name a file of the export")
    return root.joinpath(*parts)


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise AudioDissectError("the parquet export needs pyarrow, which is not installed",
                                hint="pip install 'audiodissect[export]' (or pyarrow), or export --format jsonl") \
            from None


def _need_datasets() -> None:
    try:
        import datasets  # noqa: F401
    except ImportError:
        raise AudioDissectError("the hf-dataset export needs the datasets package, which is not installed",
                                hint="pip install 'audiodissect[hf]', or export --format parquet or jsonl") from None


def _frame(table: str, rows: Sequence[dict[str, Any]]):
    import pandas as pd

    return pd.DataFrame.from_records(list(rows), columns=list(COLUMNS[table]))


def _arrow_table(table: str, rows: Sequence[dict[str, Any]]):
    """An Arrow table with a fixed type per column (so an all-empty column keeps its type)."""
    import pyarrow as pa

    types = {**{c: pa.int64() for c in INTEGER_COLUMNS}, **{c: pa.list_(pa.string()) for c in LIST_COLUMNS}}
    numbers = set(NUMBER_COLUMNS)
    fields = [pa.field(c, types.get(c, pa.float64() if c in numbers else pa.string())) for c in COLUMNS[table]]
    schema = pa.schema(fields)
    return pa.Table.from_pylist(list(rows), schema=schema)


def _write_parquet(out: Path, tables: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    import pyarrow.parquet as pq

    files = {}
    for table, rows in tables.items():
        files[table] = f"{table}.parquet"
        pq.write_table(_arrow_table(table, rows), out / files[table])
    return files


def _write_jsonl(out: Path, tables: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    files = {}
    for table, rows in tables.items():
        files[table] = f"{table}.jsonl"
        write_jsonl(out / files[table], rows)
    return files


def _write_hf_dataset(out: Path, tables: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    import datasets

    splits = {table: datasets.Dataset(_arrow_table(table, rows)) for table, rows in tables.items()}
    datasets.DatasetDict(splits).save_to_disk(str(out))
    return {table: table for table in tables}


def _read_manifest(file: Path) -> dict[str, Any]:
    """``export.json``, checked: a JSON object of a known format whose tables are files of their usual names."""
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AudioDissectError(f"cannot read {file} as JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise AudioDissectError(f"{file} is not a JSON object")
    version = manifest.get("export_format", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise AudioDissectError(f"{file}: export_format {version!r} is not a whole number")
    if version > EXPORT_FORMAT:
        raise AudioDissectError(f"{file.parent} is an export of format {version}; this version reads up "
                                f"to {EXPORT_FORMAT}", hint="upgrade audiodissect")
    fmt = manifest.get("format")
    if fmt not in FORMATS:
        raise AudioDissectError(f"{file}: unknown export format {fmt!r}", hint="one of " + ", ".join(FORMATS))
    listed = manifest.get("tables")
    for table in TABLES:
        entry = listed.get(table) if isinstance(listed, dict) else None
        expected = table if fmt == "hf-dataset" else f"{table}.{fmt}"
        if not isinstance(entry, dict) or entry.get("file") != expected:
            raise AudioDissectError(f"{file}: the table {table!r} is not listed as the file {expected!r}",
                                    hint="an export's tables are files of its own folder with their usual names")
    return manifest


def _check_saved_dataset(path: Path) -> None:
    """Refuse a saved dataset that would read files outside its own tables' folders.

    ``datasets.load_from_disk`` opens the folders ``dataset_dict.json`` lists and the data files each
    ``state.json`` names, as paths joined to the export's: a shared export could name ``../`` or absolute
    paths. Its splits must be the export's tables, each a folder of the export, reading only plain files of
    that folder.
    """
    def refuse(what: str) -> AudioDissectError:
        return AudioDissectError(f"{path}: {what}", hint="an export's tables are files of its own folder; "
                                                         "export the run again")

    try:
        splits = read_json(path / "dataset_dict.json").get("splits")
    except (OSError, ValueError, AttributeError):
        raise refuse("dataset_dict.json is missing or damaged") from None
    if not isinstance(splits, list) or sorted(map(str, splits)) != sorted(TABLES):
        raise refuse(f"the saved splits {splits!r} are not the tables {list(TABLES)}")
    for table in TABLES:
        folder = path / table
        if folder.is_symlink() or not folder.is_dir():
            raise refuse(f"the table {table!r} is not a folder of the export")
        try:
            files = read_json(folder / "state.json").get("_data_files")
        except (OSError, ValueError, AttributeError):
            raise refuse(f"{table}/state.json is missing or damaged") from None
        names = [f.get("filename") if isinstance(f, dict) else None for f in files] if isinstance(files, list) else []
        if not names:
            raise refuse(f"{table}/state.json lists no data files")
        for name in names:
            if not (isinstance(name, str) and plain_name(name) and (folder / name).is_file()
                    and not (folder / name).is_symlink()):
                raise refuse(f"the table {table!r} names the data file {name!r}, not a file of its own folder")


def read_export(path: str | os.PathLike) -> Export:
    """Read an export written by :func:`export_run` (any format) back: its manifest and tables.

    Raises
    ------
    AudioDissectError
        When `path` holds no export, or one of a newer export format.
    """
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise AudioDissectError(f"{path} holds no audiodissect export (no {MANIFEST})")
    manifest = _read_manifest(path / MANIFEST)
    fmt = manifest["format"]
    import pandas as pd

    tables = {}
    try:
        if fmt == "hf-dataset":
            _need_datasets()
            import datasets

            _check_saved_dataset(path)
            loaded = datasets.load_from_disk(str(path))
            tables = {t: loaded[t].to_pandas() for t in TABLES}
        else:
            for table in TABLES:  # each table's own file of the export's folder, never a path the manifest names
                file = path / f"{table}.{fmt}"
                if fmt == "parquet":
                    _need_pyarrow()
                    tables[table] = pd.read_parquet(file)
                else:
                    tables[table] = pd.read_json(file, lines=True, dtype=False) if file.stat().st_size else \
                        _frame(table, [])
    except AudioDissectError:
        raise
    except Exception as exc:  # a missing or damaged table
        raise AudioDissectError(f"cannot read the {fmt} export at {path}: {type(exc).__name__}: {exc}",
                                hint="the export is incomplete or damaged: export the run again") from None
    for table, frame in tables.items():
        tables[table] = frame.reindex(columns=list(COLUMNS[table]))
    return Export(path=path, format=fmt, manifest=manifest, tables=tables)
