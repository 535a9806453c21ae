"""Feature importance (paper Fig. 4): held-out accuracy when pruning units ranked by a summary property.

Units are ranked by a property of their calibrated summary, most first (the
number of nouns, the number of acoustic adjectives; ties broken by a seeded
shuffle), and the top 2, 4, ..., 12 % are switched off together. The same
fractions of randomly ranked units (several seeds) give the reference curve.
If a property marks important units, its curve falls below the random one.
The pool is every summarised unit of the eligible layers (the classifier's
output layer is left out unless asked for), the same pool for every ranking.

Files written::

    pruning/importance.jsonl   one row per (ranking, seed, fraction): n_units, accuracy
    pruning/importance.png     the curves
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import atomic_path, write_jsonl
from ..errors import AudioDissectError
from ..probes.base import ProbeSet
from ..progress import ProgressHook, track
from ..rundir import RunDir
from ..targets.base import Target
from .evaluate import HeldoutAudio, heldout_logits, predictions

PROPERTIES = ("nouns", "acoustic_adjectives", "adjectives", "verbs", "prepositions", "kept_sentences")


def rank_by_property(records: Sequence[Mapping[str, Any]], prop: str, *, layers: Mapping[str, int],
                     seed: int = 0) -> list[str]:
    """Unit ids of `records` in `layers`, the largest ``len(record[prop])`` first.

    Parameters
    ----------
    records : sequence of dict
        ``units/summarize.jsonl`` records.
    prop : str
        A list-valued field, e.g. ``"nouns"`` or ``"acoustic_adjectives"``.
    layers : mapping of str to int
        Eligible layers.
    seed : int
        Ties are ordered by a shuffle with this seed.
    """
    if prop not in PROPERTIES:
        from ..errors import unknown_name_error

        raise unknown_name_error("summary property", prop, PROPERTIES)
    kept = [r for r in records if r.get("layer") in layers]
    counts = np.array([len(r.get(prop) or []) for r in kept], dtype=np.int64)
    tie = np.random.default_rng(seed).permutation(len(kept))
    order = np.lexsort((tie, -counts))
    return [kept[i]["unit"] for i in order]


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


def importance_curves(target: Target, audio: HeldoutAudio, classes: np.ndarray,
                      rankings: Mapping[tuple[str, int | None], Sequence[str]], fractions: Sequence[float], *,
                      batch_size: int = 32, among: np.ndarray | None = None,
                      hook: ProgressHook | None = None) -> list[dict[str, Any]]:
    """Held-out accuracy after pruning the first units of each ranking.

    Parameters
    ----------
    target : Target
    audio : HeldoutAudio
    classes : np.ndarray, shape (n,)
        True class of each held-out clip.
    rankings : mapping of (name, seed) to list of str
        Unit ids, most important first.
    fractions : sequence of float
        Shares of the ranking's length to prune, e.g. 0.02 ... 0.12.
    among : np.ndarray, shape (m,), optional
        Classes competing for the accuracy (default: all).

    Returns
    -------
    list of dict
        ``ranking``, ``seed``, ``fraction``, ``n_units``, ``accuracy`` per (ranking, fraction).
    """
    jobs = [(name, seed, f, units) for (name, seed), units in rankings.items() for f in fractions]
    rows = []
    for name, seed, fraction, units in track(jobs, "importance", hook=hook):
        n = prune_count(len(units), fraction)
        logits = heldout_logits(target, audio, units=list(units[:n]), batch_size=batch_size)
        rows.append({"ranking": name, "seed": seed, "fraction": float(fraction), "n_units": n,
                     "accuracy": accuracy(logits, classes, among)})
    return rows


def summarize_curves(rows: Sequence[Mapping[str, Any]], *, baseline: float) -> dict[str, Any]:
    """Mean and standard deviation over seeds per (ranking, fraction), plus the unpruned accuracy."""
    curves: dict[str, dict[float, list[float]]] = {}
    for row in rows:
        curves.setdefault(row["ranking"], {}).setdefault(row["fraction"], []).append(row["accuracy"])
    return {"baseline_accuracy": baseline,
            "curves": {name: [{"fraction": f, "mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)}
                              for f, v in sorted(points.items())] for name, points in curves.items()}}


def plot_importance(summary: Mapping[str, Any], path: str | Path, *, title: str = "") -> Path:
    """Accuracy against the percentage of pruned units, one line per ranking (random with a ±1 sd band)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    base = summary["baseline_accuracy"]
    for name, points in summary["curves"].items():
        x = [0.0] + [100 * p["fraction"] for p in points]
        y = np.array([base] + [p["mean"] for p in points])
        sd = np.array([0.0] + [p["std"] for p in points])
        label = f"random ({points[0]['n']} seeds, ±1 sd)" if name == "random" else f"most {name.replace('_', ' ')} first"
        line, = ax.plot(x, y, marker="o", linestyle="--" if name == "random" else "-", label=label)
        if name == "random":
            ax.fill_between(x, y - sd, y + sd, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("units pruned (%)")
    ax.set_ylabel("held-out accuracy")
    ax.set_title(title or "Feature importance: pruning units ranked by their summaries")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


def run_importance(run: RunDir, target: Target, probe: ProbeSet, config=None, *,
                   hook: ProgressHook | None = None) -> dict[str, Any]:
    """Compute the curves of a run and write ``pruning/importance.jsonl`` and ``pruning/importance.png``.

    Parameters
    ----------
    config : PruneConfig, optional
        Uses ``importance_properties``, ``importance_fractions``, ``importance_seeds``,
        ``include_output_layer`` and ``batch_size``.

    Returns
    -------
    dict
        ``{"rows": [...], "summary": {...}}``.
    """
    from .runner import PruneConfig, PruningContext

    config = config or PruneConfig()
    ctx = PruningContext(run, target, probe, batch_size=config.batch_size,
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
    rows = importance_curves(target, ctx.audio, ctx.classes, rankings, config.importance_fractions,
                             batch_size=config.batch_size, among=ctx.among, hook=hook)
    baseline = accuracy(ctx.baseline, ctx.classes, ctx.among)
    write_jsonl(ctx.root / "importance.jsonl",
                [{"ranking": "none", "seed": None, "fraction": 0.0, "n_units": 0, "accuracy": baseline}, *rows])
    summary = summarize_curves(rows, baseline=baseline)
    plot_importance(summary, ctx.root / "importance.png",
                    title=f"Feature importance ({target.name}, {len(pool)} units, {len(ctx.classes)} held-out clips)")
    return {"rows": rows, "summary": summary}
