"""PNG plots of the analyses (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..cache import atomic_path


def short_layer_names(layers: Sequence[str]) -> list[str]:
    """Layer paths without their common leading components (at least the last one is kept)."""
    parts = [layer.split(".") for layer in layers]
    if len(parts) < 2:
        return list(layers)
    common = 0
    while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    return [".".join(p[common:]) for p in parts]


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    return plt, fig, ax


def _save(plt, fig, path: str | os.PathLike) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def plot_adjective_counts(counts: Sequence[tuple[str, int]], path: str | os.PathLike, *,
                          n_units: int, top: int = 20) -> None:
    """Horizontal bars: units described by each of the `top` most frequent adjectives (Fig. 3)."""
    shown = list(counts)[:top]
    plt, fig, ax = _figure(7.0, max(2.5, 0.32 * len(shown) + 1.2))
    names = [w for w, _ in shown][::-1]
    values = [c for _, c in shown][::-1]
    ax.barh(names, values, color="#3b6ea5")
    for y, v in enumerate(values):
        ax.text(v, y, f" {v}", va="center", fontsize=8)
    ax.set_xlabel("units described (count)")
    ax.set_title(f"Most frequent acoustic adjectives over {n_units} units")
    ax.margins(x=0.12)
    _save(plt, fig, path)


def plot_adjectives_by_layer(rows: Sequence[dict[str, Any]], trend: dict[str, float] | None,
                             path: str | os.PathLike) -> None:
    """Mean adjectives per unit against layer depth, with the linear fit (Fig. 5)."""
    depth = np.array([r["depth"] for r in rows], dtype=float)
    mean = np.array([r["mean"] for r in rows], dtype=float)
    names = short_layer_names([r["layer"] for r in rows])
    plt, fig, ax = _figure(max(5.0, 0.45 * len(rows) + 2.5), 3.8)
    ax.plot(depth, mean, "o-", color="#3b6ea5", label="mean per unit")
    if trend is not None:
        xs = np.linspace(depth.min(), depth.max(), 50)
        ax.plot(xs, trend["slope"] * xs + trend["intercept"], "--", color="#c0392b",
                label=f"linear fit: slope {trend['slope']:.3g}/layer, p = {trend['p_value']:.3g}")
    ax.set_xticks(depth)
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("layer (input to output)")
    ax.set_ylabel("adjectives per unit (mean count)")
    ax.set_title("Acoustic adjectives per unit by layer depth")
    ax.legend(fontsize=8)
    _save(plt, fig, path)


def plot_uninterpretable(rows: Sequence[dict[str, Any]], kprimes: Sequence[int], path: str | os.PathLike, *,
                         k: int) -> None:
    """Share of uninterpretable units per layer, one line per K' (Fig. 6)."""
    depth = np.arange(len(rows))
    names = short_layer_names([r["layer"] for r in rows])
    plt, fig, ax = _figure(max(5.0, 0.45 * len(rows) + 2.5), 3.8)
    for kp in kprimes:
        ax.plot(depth, [100 * r[f"share_k{kp}"] for r in rows], "o-", label=f"K' = {kp}")
    ax.set_xticks(depth)
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_xlabel("layer (input to output)")
    ax.set_ylabel("uninterpretable units (%)")
    ax.set_title(f"Units whose top-5 clips share fewer than K' of {k} sentence clusters")
    ax.legend(fontsize=8, title="top clips sharing a cluster")
    _save(plt, fig, path)


def plot_last_layer(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> None:
    """Grouped bars: last-layer top-1 and top-5 accuracy per method and similarity (Table 2)."""
    labels = [f"{r['method']}/{r['similarity']}" if r.get("similarity") not in (None, "", "None")
              else str(r["method"]) for r in rows]
    top1 = [float(r["top1"]) for r in rows]
    top5 = [float(r["top5"]) for r in rows]
    x = np.arange(len(rows))
    plt, fig, ax = _figure(max(5.0, 0.6 * len(rows) + 2.0), 3.8)
    ax.bar(x - 0.2, top1, width=0.4, label="top-1", color="#3b6ea5")
    ax.bar(x + 0.2, top5, width=0.4, label="top-5", color="#9bbbd9")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("output units named correctly (%)")
    ax.set_xlabel("method / similarity function")
    ax.set_title("Last-layer dissection accuracy")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(plt, fig, path)
