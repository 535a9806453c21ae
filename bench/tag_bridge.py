"""Measure the tag-bridge variants on the soundbank.

For each variant of :mod:`audiodissect.evidence.tag_bridge` this computes the
(N x C) evidence of the soundbank's probe clips against its concept list
(the 17 labels) from YAMNet's clip logits, and reports

- **clip top-1**: share of clips whose own label is the arg-max concept;
- **bound cos3 / wpmi / soft-wpmi**: last-layer dissection accuracy of a
  *perfect* classifier (activations = the one-hot label matrix, one unit per
  label): share of units whose best concept under that similarity function
  is their own label. It is the most TAB can reach on this set.

Labels are used only here, to score; the evidence never sees them.

Usage::

    python bench/tag_bridge.py [--clips-per-label 118] [--out bench/results]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def _cos3(evidence: np.ndarray, activations: np.ndarray) -> np.ndarray:
    def norm(x):
        x = (x - x.mean(axis=0)) ** 3
        return x / np.maximum(np.linalg.norm(x, axis=0), 1e-3)
    return norm(activations).T @ norm(evidence)


def _wpmi(evidence, activations, *, a=2.0, k=28, lam=0.6, weights=None):
    from scipy.special import logsumexp

    logits = a * evidence
    q = np.exp(logits - logits.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    top = np.argsort(-activations, axis=0, kind="stable")[:k]          # (k, U)
    qt = q[top]                                                        # (k, U, C)
    if weights is None:
        log_pcu = np.log(qt + 1e-7).sum(axis=0)
    else:
        w = weights[:, None, None]
        log_pcu = np.log(1 + w * (qt - 1) + 1e-7).sum(axis=0)
    log_pc = logsumexp(log_pcu, axis=0) - np.log(activations.shape[1])
    return log_pcu - lam * log_pc


def similarity_functions():
    """cos3, wpmi and soft-wpmi: from audiodissect.similarity when it exists, else local copies."""
    try:
        from audiodissect.similarity import get_similarity  # type: ignore[attr-defined]

        return {name: get_similarity(name) for name in ("cos3", "wpmi", "soft_wpmi")}
    except ImportError:
        soft_w = np.linspace(0.998, 0.97, 100)
        return {"cos3": _cos3, "wpmi": _wpmi,
                "soft_wpmi": lambda e, a: _wpmi(e, a, a=10.0, k=100, lam=1.0, weights=soft_w)}


def measure(evidence: np.ndarray, labels: np.ndarray, n_concepts: int, functions) -> dict[str, float]:
    onehot = np.eye(n_concepts, dtype=np.float64)[labels]
    row = {"clip top-1": float((evidence.argmax(axis=1) == labels).mean())}
    for name, f in functions.items():
        scores = np.asarray(f(np.asarray(evidence, dtype=np.float64), onehot))
        row[f"bound {name}"] = float((scores.argmax(axis=1) == np.arange(n_concepts)).mean())
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips-per-label", type=int, default=118)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args(argv)

    from audiodissect.cache import cache_dir, load_npy, save_npy
    from audiodissect.concepts import load_concepts
    from audiodissect.evidence.tag_bridge import VARIANTS, TagBridge, bridge_evidence, name_similarity
    from audiodissect.probes import load_probe
    from audiodissect.probes.soundbank import SOUNDBANK_CONCEPTS
    from audiodissect.progress import silent

    t0 = time.time()
    probe = load_probe("soundbank", clips_per_label=args.clips_per_label)
    idx = probe.indices("probe")
    concepts = load_concepts(SOUNDBANK_CONCEPTS)
    labels = np.array([concepts.index(probe[i].label) for i in idx])
    out = Path(args.out)
    logits_path = cache_dir() / "bench" / f"soundbank-{args.clips_per_label}-yamnet-logits.npy"
    bridge = TagBridge(batch_size=32, hook=silent)
    if logits_path.exists():
        logits = load_npy(logits_path)
    else:
        logits = bridge.tag_logits([probe.audio(int(i), sample_rate=16000) for i in idx])
        save_npy(logits_path, logits)
    print(f"{len(idx)} probe clips, {len(concepts)} concepts; logits in {time.time() - t0:.0f} s", file=sys.stderr)

    functions = similarity_functions()
    similarity = name_similarity(concepts, bridge.tagger.class_names, bridge.embedder)
    rows = []
    for name, variant in VARIANTS.items():
        evidence = bridge_evidence(logits, similarity, variant=variant)
        rows.append({"variant": name, **measure(evidence, labels, len(concepts), functions)})
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(row["variant"] if c == "variant" else f"{row[c]:.3f}" for c in columns) + " |")
    table = "\n".join(lines)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tag_bridge.md").write_text(
        f"Soundbank ({args.clips_per_label} clips per label, {len(idx)} probe clips, "
        f"{len(concepts)} concepts), YAMNet tags, MiniLM names.\n\n{table}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
