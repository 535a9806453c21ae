"""Feature importance (paper Fig. 4): held-out accuracy when pruning units ranked by a summary property.

Units are ranked by a property of their calibrated summary, most first (ties
broken by a seeded shuffle), and the top 2, 4, ..., 12 % are switched off
together. The properties are those of the summarize records (paper Step 3,
Module C): ``summary_length`` (words of the calibrated summary, Fig. 4b),
the numbers of ``adjectives`` and of ``nouns`` (Fig. 4c), of
``acoustic_adjectives`` (those judged to describe a sound, Fig. 4a), of
``verbs``, ``prepositions`` and ``kept_sentences``. The same fractions of
randomly ranked units (several seeds) give the reference curve. If a
property marks important units, its curve falls below the random one. The
pool is every summarised unit of the eligible layers (the classifier's output
layer is left out unless asked for), the same pool for every ranking.

Files written::

    pruning/importance.jsonl          one row per (ranking, seed, fraction): n_units, accuracy
    pruning/importance.json           the curves (mean, sd over seeds), property statistics, plot names
    pruning/importance.png            every curve
    pruning/importance_<prop>.png     one property's curve against the random ones
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import atomic_path, write_json, write_jsonl
from ..errors import AudioDissectError
from ..executor import Executor, LocalExecutor
from ..probes.base import ProbeSet
from ..progress import ProgressHook, track
from ..rundir import IMPORTANCE_JSON, IMPORTANCE_PNG, IMPORTANCE_PROPERTY_PNG, IMPORTANCE_ROWS, RunDir
from ..targets.base import Target
from .evaluate import heldout_logits, predictions
from .replica import replica_setup

#: Summary properties a ranking can use: a count field, or a list field counted by its length.
PROPERTIES = ("summary_length", "adjectives", "nouns", "acoustic_adjectives", "verbs", "prepositions",
              "kept_sentences")
#: The curves' summary under ``pruning/``.
#: The properties ranked by default: the paper's Figs 4a-4c.
DEFAULT_PROPERTIES = ("summary_length", "adjectives", "nouns", "acoustic_adjectives")


def property_values(records: Sequence[Mapping[str, Any]], prop: str) -> np.ndarray:
    """The size of `prop` in each record: a number as it is, a list by its length, missing as 0.

    Parameters
    ----------
    records : sequence of dict, length n
        ``units/summarize.jsonl`` records.
    prop : str
        One of :data:`PROPERTIES`.

    Returns
    -------
    np.ndarray, shape (n,), float64
    """
    if prop not in PROPERTIES:
        from ..errors import unknown_name_error

        raise unknown_name_error("summary property", prop, PROPERTIES)
    values = [r.get(prop) for r in records]
    return np.array([0.0 if v is None else float(v) if isinstance(v, (int, float)) else float(len(v))
                     for v in values], dtype=np.float64)


def rank_by_property(records: Sequence[Mapping[str, Any]], prop: str, *, layers: Mapping[str, int],
                     seed: int = 0) -> list[str]:
    """Unit ids of `records` in `layers`, the largest `prop` first (:func:`property_values`).

    Parameters
    ----------
    records : sequence of dict
        ``units/summarize.jsonl`` records.
    prop : str
        One of :data:`PROPERTIES`, e.g. ``"summary_length"`` or ``"nouns"``.
    layers : mapping of str to int
        Eligible layers.
    seed : int
        Ties are ordered by a shuffle with this seed.
    """
    kept = [r for r in records if r.get("layer") in layers]
    values = property_values(kept, prop)
    tie = np.random.default_rng(seed).permutation(len(kept))
    order = np.lexsort((tie, -values))
    return [kept[i]["unit"] for i in order]


def property_stats(records: Sequence[Mapping[str, Any]], props: Sequence[str]) -> dict[str, dict[str, float]]:
    """Mean, median, max and share of zeros of each property over `records` (how much ties weigh)."""
    out = {}
    for prop in props:
        v = property_values(records, prop)
        out[prop] = {"mean": float(v.mean()) if len(v) else float("nan"),
                     "median": float(np.median(v)) if len(v) else float("nan"),
                     "max": float(v.max()) if len(v) else float("nan"),
                     "zero_share": float(np.mean(v == 0)) if len(v) else float("nan")}
    return out


def rank_random(units: Sequence[str], *, seed: int) -> list[str]:
    """`units` in a random order drawn with `seed`."""
    return [units[i] for i in np.random.default_rng(seed).permutation(len(units))]


def prune_count(n_units: int, fraction: float) -> int:
    """Units pruned for `fraction` of `n_units`, rounded half up."""
    return int(np.floor(fraction * n_units + 0.5))


def accuracy(logits: np.ndarray, classes: np.ndarray, among: np.ndarray | None = None) -> float:
    """Share of rows whose arg-max logit (over all classes, or the classes `among`) is the true class.

    Shapes: logits (n, K), classes (n,), among (m,) -> float.
    """
    return float(np.mean(predictions(logits, among) == classes)) if len(classes) else float("nan")


def importance_point(state: Any, job: tuple[str, int | None, float, Sequence[str]]) -> dict[str, Any]:
    """One point of a curve: accuracy after pruning the first ``fraction`` of a ranking's units.

    Parameters
    ----------
    state : object with ``target``, ``audio``, ``classes``, ``among`` and ``batch_size``
        A :class:`~audiodissect.prune.runner.PruningContext` here, or a worker's
        :class:`~audiodissect.prune.replica.MeasureReplica`.
    job : tuple
        ``(ranking name, seed, fraction, units most important first)``.
    """
    name, seed, fraction, units = job
    n = prune_count(len(units), fraction)
    logits = heldout_logits(state.target, state.audio, units=list(units[:n]), batch_size=state.batch_size)
    return {"ranking": name, "seed": seed, "fraction": float(fraction), "n_units": n,
            "accuracy": accuracy(logits, state.classes, state.among)}


def importance_curves(rankings: Mapping[tuple[str, int | None], Sequence[str]], fractions: Sequence[float], *,
                      setup: Callable[[], Any], executor: Executor | None = None,
                      hook: ProgressHook | None = None) -> list[dict[str, Any]]:
    """Held-out accuracy after pruning the first units of each ranking.

    Parameters
    ----------
    rankings : mapping of (name, seed) to list of str
        Unit ids, most important first.
    fractions : sequence of float
        Shares of the ranking's length to prune, e.g. 0.02 ... 0.12.
    setup : callable
        Gives each worker the state :func:`importance_point` measures on
        (:func:`~audiodissect.prune.replica.replica_setup`).
    executor : Executor, optional
        Measures the points (default: in this process).

    Returns
    -------
    list of dict
        ``ranking``, ``seed``, ``fraction``, ``n_units``, ``accuracy`` per (ranking, fraction).
    """
    jobs = [(name, seed, f, units) for (name, seed), units in rankings.items() for f in fractions]
    points = (executor or LocalExecutor()).map(importance_point, jobs, setup=setup)
    return list(track(points, "importance", hook=hook, total=len(jobs)))


def summarize_curves(rows: Sequence[Mapping[str, Any]], *, baseline: float) -> dict[str, Any]:
    """Mean and standard deviation over seeds per (ranking, fraction), plus the unpruned accuracy."""
    curves: dict[str, dict[float, list[float]]] = {}
    for row in rows:
        curves.setdefault(row["ranking"], {}).setdefault(row["fraction"], []).append(row["accuracy"])
    return {"baseline_accuracy": baseline,
            "curves": {name: [{"fraction": f, "mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)}
                              for f, v in sorted(points.items())] for name, points in curves.items()}}


#: Legend label of each property's ranking.
_LABELS = {"summary_length": "longest summaries first"}


def ranking_label(name: str) -> str:
    """Legend label of a ranking: ``"nouns"`` -> ``"most nouns first"``."""
    return _LABELS.get(name, f"most {name.replace('_', ' ')} first")


def plot_importance(summary: Mapping[str, Any], path: str | Path, *, title: str = "",
                    rankings: Sequence[str] | None = None) -> Path:
    """Accuracy against the percentage of pruned units, one line per ranking (random with a ±1 sd band).

    Parameters
    ----------
    summary : dict
        :func:`summarize_curves` output.
    path : path
        The PNG written.
    title : str
    rankings : sequence of str, optional
        The property rankings drawn (default: all); the random curve is always drawn.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    base = summary["baseline_accuracy"]
    shown = {name: points for name, points in summary["curves"].items()
             if name == "random" or rankings is None or name in rankings}
    for name, points in shown.items():
        x = [0.0] + [100 * p["fraction"] for p in points]
        y = np.array([base] + [p["mean"] for p in points])
        sd = np.array([0.0] + [p["std"] for p in points])
        label = f"random ({points[0]['n']} seeds, ±1 sd)" if name == "random" else ranking_label(name)
        line, = ax.plot(x, y, marker="o", linestyle="--" if name == "random" else "-", label=label)
        if name == "random":
            ax.fill_between(x, y - sd, y + sd, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("units pruned (%)")
    ax.set_ylabel("held-out accuracy")
    ax.set_title(title or "Feature importance: pruning units ranked by their summaries", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


def plot_name(prop: str) -> str:
    """File name of one property's plot under ``pruning/``: ``importance_<prop>.png``."""
    return Path(IMPORTANCE_PROPERTY_PNG.format(property=prop)).name


def run_importance(run: RunDir, target: Target, probe: ProbeSet, config=None, *, batch_size: int = 32,
                   hook: ProgressHook | None = None, executor: Executor | None = None) -> dict[str, Any]:
    """Compute the curves of a run; write ``pruning/importance.jsonl``, ``importance.json`` and the plots.

    Parameters
    ----------
    config : PruneConfig, optional
        Uses ``importance_properties``, ``importance_fractions``, ``importance_seeds``
        and ``include_output_layer``.
    batch_size : int
        Held-out clips per forward pass.
    executor : Executor, optional
        Where the points are measured (default: in this process; on Ray, by
        workers that each hold one model replica and the held-out audio).

    Returns
    -------
    dict
        ``{"rows": [...], "summary": {...}}``; the summary holds the curves
        (:func:`summarize_curves`), ``properties`` (:func:`property_stats` over
        the pool), ``units``, ``heldout_clips`` and ``files`` (plot names under
        ``pruning/``: ``"all"`` and one per property).
    """
    from .runner import PruneConfig, PruningContext

    config = config or PruneConfig()
    for prop in config.importance_properties:
        if prop not in PROPERTIES:
            from ..errors import unknown_name_error

            raise unknown_name_error("summary property", prop, PROPERTIES)
    ctx = PruningContext(run, target, probe, batch_size=batch_size,
                         include_output_layer=config.include_output_layer, hook=hook)
    records = run.read_units("summarize")
    rankings: dict[tuple[str, int | None], list[str]] = {}
    for prop in config.importance_properties:
        rankings[(prop, None)] = rank_by_property(records, prop, layers=ctx.eligible)
    pool = [r["unit"] for r in records if r.get("layer") in ctx.eligible]
    if not pool:
        raise AudioDissectError("no summarised unit lies in a layer that may be pruned",
                                hint="run `audiodissect summarize`, or allow the output layer")
    for seed in range(config.importance_seeds):
        rankings[("random", seed)] = rank_random(pool, seed=seed)
    executor = executor or LocalExecutor()
    rows = importance_curves(rankings, config.importance_fractions, setup=executor.state(ctx, ship=replica_setup),
                             executor=executor, hook=hook)
    baseline = accuracy(ctx.baseline, ctx.classes, ctx.among)
    write_jsonl(run.file(IMPORTANCE_ROWS),
                [{"ranking": "none", "seed": None, "fraction": 0.0, "n_units": 0, "accuracy": baseline}, *rows])
    summary = summarize_curves(rows, baseline=baseline)
    pooled = [r for r in records if r.get("layer") in ctx.eligible]
    summary["properties"] = property_stats(pooled, config.importance_properties)
    summary["units"] = len(pool)
    summary["heldout_clips"] = len(ctx.classes)
    where = f"{target.name}, {len(pool)} units, {len(ctx.classes)} held-out clips"
    plot_importance(summary, run.file(IMPORTANCE_PNG), title=f"Feature importance ({where})")
    files = {"all": Path(IMPORTANCE_PNG).name}
    for prop in config.importance_properties:
        plot_importance(summary, run.file(IMPORTANCE_PROPERTY_PNG, property=prop), rankings=[prop],
                        title=f"Pruning units by {prop.replace('_', ' ')} ({where})")
        files[prop] = plot_name(prop)
    summary["files"] = files
    write_json(run.file(IMPORTANCE_JSON), summary)
    return {"rows": rows, "summary": summary}
