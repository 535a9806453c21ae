"""Last-layer dissection accuracy: the classifier's units must recover their own classes.

The project's version of the paper's Table 2: for every method and similarity
function, top-1 and top-5 accuracy of the concepts named for the output
units, and the mean sentence-embedding cosine between the predicted and the
true names.

Two readings of accuracy are given when the concept set holds more than the
class names (the default set adds acoustic words such as "low-pitched"):
``top1``/``top5`` take a unit's concepts as named, so a class unit named
"low-pitched" is a miss; ``top1_classes``/``top5_classes`` take its ranked
concepts that are class names, in their order, which is the paper's
protocol (its concept set for Table 2 is the label set). A unit whose kept
concepts (``identify.top``) hold no class name is a miss in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..class_names import concepts_of_classes, normalize_concept
from ..errors import AudioDissectError


def last_layer_table(records: Sequence[dict[str, Any]], *, layer: str, class_names: Sequence[str],
                     concepts: Sequence[str], embedder=None) -> list[dict[str, Any]]:
    """Accuracy of the concepts named for `layer`'s units against their class names.

    Parameters
    ----------
    records : sequence of dict
        Identify records (``units/identify.jsonl``), any methods.
    layer : str
        The output layer; unit i is class ``class_names[i]``.
    class_names : sequence of str
    concepts : sequence of str
        The concept set. A unit's class is named by the concept that matches
        its class name, whole or by a comma-separated synonym (see
        :mod:`audiodissect.class_names`: "violin" names YAMNet's
        "Violin, fiddle"); units whose class no concept names are left out
        and counted.
    embedder : TextEmbedder, optional
        For the mean cosine between predicted and true names.

    Returns
    -------
    list of dict
        One row per (method, similarity): ``top1``, ``top5``, ``top1_classes``,
        ``top5_classes`` (percent; see the module docstring), ``cosine``,
        ``units``, ``left_out``.
    """
    truth = {i: normalize_concept(c) for i, c in concepts_of_classes(concepts, class_names).items()}
    classes = set(truth.values())
    groups: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for r in records:
        if r["layer"] == layer:
            groups.setdefault((r["method"], r["similarity"]), []).append(r)
    if not groups:
        raise AudioDissectError(f"no concepts were identified for the output layer {layer!r}",
                                hint="run `audiodissect identify` on a run that recorded the classifier")
    rows = []
    for (method, similarity), group in groups.items():
        scored = [r for r in group if r["index"] in truth]
        if not scored:
            continue
        named = [[normalize_concept(c) for c in r["concepts"]] for r in scored]
        among = [[c for c in ranked if c in classes] for ranked in named]
        right = [truth[r["index"]] for r in scored]
        row = {"method": method, "similarity": similarity,
               "top1": _percent(ranked[:1] == [t] for ranked, t in zip(named, right)),
               "top5": _percent(t in ranked[:5] for ranked, t in zip(named, right)),
               "top1_classes": _percent(ranked[:1] == [t] for ranked, t in zip(among, right)),
               "top5_classes": _percent(t in ranked[:5] for ranked, t in zip(among, right)),
               "units": len(scored), "left_out": len(group) - len(scored)}
        if embedder is not None:
            predicted = embedder.encode([r["concepts"][0] for r in scored])
            true = embedder.encode([truth[r["index"]] for r in scored])
            row["cosine"] = round(float(np.mean(np.sum(predicted * true, axis=1))), 3)
        rows.append(row)
    if not rows:
        raise AudioDissectError("none of the output layer's class names is in the concept set",
                                hint="use a concept set that contains the model's class names")
    return sorted(rows, key=lambda r: (r["method"], str(r["similarity"])))


def _percent(hits) -> float:
    """The share of true values in `hits`, in percent, one decimal."""
    hits = list(hits)
    return round(100 * float(np.mean(hits)), 1)


def icl_records(summaries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """ICL's answers in the shape of identify records (method ``"icl"``), for :func:`last_layer_table`.

    A unit's concepts are :func:`~audiodissect.summarize.icl.chosen_concepts`
    (copied candidate lists chose nothing); a unit with none gets
    ``["(none)"]``, a miss.

    Parameters
    ----------
    summaries : sequence of dict
        Summarize records (``units/summarize.jsonl``).
    """
    from ..summarize.icl import chosen_concepts

    return [{"layer": r["layer"], "index": r["index"], "method": "icl", "similarity": None,
             "concepts": chosen_concepts(r) or ["(none)"]} for r in summaries]


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of :func:`last_layer_table` rows."""
    header = (f"{'method':<7} {'similarity':<13} {'top-1 %':>8} {'top-5 %':>8} {'classes top-1 %':>16} "
              f"{'classes top-5 %':>16} {'cosine':>7} {'units':>6}")
    lines = [header, "-" * len(header)]
    for r in rows:
        cos = f"{r['cosine']:.3f}" if "cosine" in r else "-"
        lines.append(f"{r['method']:<7} {r['similarity'] or '-':<13} {r['top1']:>8.1f} {r['top5']:>8.1f} "
                     f"{r['top1_classes']:>16.1f} {r['top5_classes']:>16.1f} {cos:>7} {r['units']:>6}")
    lines.append("classes top-k: among the concepts that are class names (the paper's label-only concept set)")
    return "\n".join(lines)


def write_last_layer(run: Any, *, embedder: Any) -> list[dict[str, Any]]:
    """Last-layer accuracy of a run (identify records, plus ICL's answers): ``evaluation/last_layer.csv``.

    Parameters
    ----------
    run : RunDir
    embedder : TextEmbedder
        For the mean cosine between named and true concepts.

    Returns
    -------
    list of dict
        The :func:`last_layer_table` rows.

    Raises
    ------
    AudioDissectError
        When the run has no output layer with named classes.
    """
    import csv
    import io

    from ..cache import write_text

    record = run.stage("record")
    layer = run.output_layer()
    if layer is None or not record.get("class_names"):
        why = f" ({record['output_layer_note']})" if layer is None and record.get("output_layer_note") else ""
        raise AudioDissectError(f"no recorded layer is the model's output layer with named classes{why}",
                                hint="record the classifier layer of a model with named classes")
    records = list(run.read_units("identify"))
    if run.has_units("summarize"):
        records += icl_records(run.read_units("summarize"))
    rows = last_layer_table(records, layer=layer, class_names=record["class_names"], concepts=run.concepts() or [],
                            embedder=embedder)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["method", "similarity", "top1", "top5", "top1_classes", "top5_classes",
                                             "cosine", "units", "left_out"])
    writer.writeheader()
    writer.writerows(rows)
    write_text(run.last_layer_path, buf.getvalue())
    return rows
