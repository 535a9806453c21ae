"""Measure the offline evidence (tag bridge for TAB, tags+descriptors captions for DB) on the soundbank.

YAMNet's per-patch logits of the soundbank's probe clips are computed once
(and kept under the cache folder); then, for every patch pooling of
:mod:`audiodissect.evidence.tag_logits` and every tag-bridge variant of
:mod:`audiodissect.evidence.tag_bridge`, this reports

- **clip top-1**: share of clips whose own label is the arg-max concept;
- **bound <f>**: last-layer accuracy of a *perfect* classifier (activations
  = the one-hot label matrix, one unit per label) under similarity function
  <f>: the most the evidence allows on this set;
- **cnn <f>** (with ``--run``): last-layer accuracy on the demo CNN's
  recorded output units (the run's ``classifier`` layer, probe rows);

and, with ``--db``, the same for DB evidence built from the tags+descriptors
captions of each pooling (captions from the shared logits, MiniLM,
softmax(100 cos)).

Labels are used only here, to score; the evidence never sees them, nor the
demo CNN.

Usage::

    python bench/tag_bridge.py [--clips-per-label 118] [--run runs/default] [--db] [--out bench/results]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

SIMILARITIES = ("cos", "cos3", "wpmi", "soft_wpmi")


def patch_logits_of(probe, idx: np.ndarray, tagger, *, batch_size: int = 32) -> np.ndarray:
    """YAMNet's per-patch logits (N, P, T) of the probe clips `idx`, batched by length."""
    from audiodissect.evidence.tag_logits import patch_logits

    waves = [probe.audio(int(i), sample_rate=tagger.sample_rate) for i in idx]
    groups: dict[int, list[int]] = {}
    for j, w in enumerate(waves):
        groups.setdefault(w.size, []).append(j)
    out: list[np.ndarray | None] = [None] * len(waves)
    for members in groups.values():
        for s in range(0, len(members), batch_size):
            batch = members[s:s + batch_size]
            for j, row in zip(batch, patch_logits(tagger, [waves[j] for j in batch])):
                out[j] = row
    shapes = {o.shape for o in out}
    if len(shapes) != 1:
        raise SystemExit(f"clips give different patch counts {sorted(shapes)}; this bench needs equal ones")
    return np.stack(out)


def accuracy(evidence: np.ndarray, activations: np.ndarray, truth: np.ndarray, similarity: str) -> float:
    """Share of units whose best concept under `similarity` is `truth[u]`."""
    from audiodissect.identify.units import score_units

    scores = score_units(np.asarray(evidence, dtype=np.float32), np.asarray(activations, dtype=np.float32),
                         similarity=similarity).numpy()
    return float((scores.argmax(axis=1) == truth).mean())


def measure(evidence: np.ndarray, labels: np.ndarray, n_concepts: int, cnn=None) -> dict[str, float]:
    onehot = np.eye(n_concepts, dtype=np.float32)[labels]
    row = {"clip top-1": float((evidence.argmax(axis=1) == labels).mean())}
    for name in SIMILARITIES:
        row[f"bound {name}"] = accuracy(evidence, onehot, np.arange(n_concepts), name)
    if cnn is not None:
        acts, truth = cnn
        for name in SIMILARITIES:
            row[f"cnn {name}"] = accuracy(evidence, acts, truth, name)
    return row


def table(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[c]) if isinstance(row[c], str) else f"{row[c]:.3f}"
                                       for c in columns) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips-per-label", type=int, default=118)
    parser.add_argument("--run", help="a run of demo-cnn on the same soundbank: also score its output units")
    parser.add_argument("--db", action="store_true", help="also measure DB evidence from the captions")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args(argv)

    from audiodissect.cache import cache_dir, hash_array, hash_key, load_npy, save_npy
    from audiodissect.identify.concepts import load_concepts
    from audiodissect.evidence.tag_bridge import VARIANTS, bridge_evidence, name_similarity
    from audiodissect.evidence.tag_logits import POOLINGS, pool_patches
    from audiodissect.probes import load_probe
    from audiodissect.probes.soundbank import SOUNDBANK_CONCEPTS
    from audiodissect.targets import load_target
    from audiodissect.text_embedder import load_text_embedder

    t0 = time.time()
    probe = load_probe("soundbank", clips_per_label=args.clips_per_label)
    idx = probe.indices("probe")
    concepts = load_concepts(SOUNDBANK_CONCEPTS)
    labels = np.array([concepts.index(probe[i].label) for i in idx])
    tagger = load_target("yamnet")
    # key: the set's spec, the clip ids and a fingerprint of every 25th clip's audio
    fingerprint = [hash_array(probe.audio(int(i), sample_rate=16000)) for i in idx[::25]]
    key = hash_key("bench-yamnet-patches", 1, probe.spec, [probe[int(i)].id for i in idx], fingerprint)
    path = cache_dir() / "bench" / f"soundbank-yamnet-patches-{key}.npy"
    if path.exists():
        patches = load_npy(path)
    else:
        patches = patch_logits_of(probe, idx, tagger)
        save_npy(path, patches)
    print(f"{len(idx)} probe clips, {len(concepts)} concepts, patches {patches.shape}; "
          f"{time.time() - t0:.0f} s", file=sys.stderr)

    cnn = None
    if args.run:
        from audiodissect.rundir import RunDir

        run = RunDir(args.run)
        rows = np.asarray(run.probe_rows())
        if not np.array_equal(rows, idx):
            raise SystemExit(f"{args.run} was not recorded on this soundbank's probe split")
        class_names = run.stage("record")["class_names"]
        cnn = (np.asarray(run.activations("classifier"))[rows], np.array([concepts.index(c) for c in class_names]))

    embedder = load_text_embedder("minilm")
    similarity = name_similarity(concepts, tagger.class_names, embedder)
    tab_rows = []
    for pooling in POOLINGS:
        logits = pool_patches(patches, pooling=pooling)
        for name, variant in VARIANTS.items():
            evidence = bridge_evidence(logits, similarity, variant=variant)
            tab_rows.append({"pooling": pooling, "variant": name, **measure(evidence, labels, len(concepts), cnn)})
    text = (f"Soundbank ({args.clips_per_label} clips per label, {len(idx)} probe clips, {len(concepts)} "
            f"concepts), YAMNet tags, MiniLM names. Command: `python bench/tag_bridge.py"
            f"{' --run ' + args.run if args.run else ''}{' --db' if args.db else ''}`.\n\n"
            f"### TAB: tag bridge\n\n{table(tab_rows)}\n")
    print(table(tab_rows))

    if args.db:
        from audiodissect.probes.clip_audio import probe_clips
        from audiodissect.captioners.tags_descriptors import TagsDescriptorsCaptioner
        from audiodissect.evidence.descriptions import description_evidence

        clips = probe_clips(probe, indices=idx)
        db_rows = []
        for pooling in POOLINGS:
            captioner = TagsDescriptorsCaptioner(tagger, pooling=pooling)
            captioner.calibrate_logits(pool_patches(patches, pooling=pooling), ids=[c.id for c in clips])
            captions = captioner.describe(clips)
            evidence = description_evidence(captions, concepts, embedder, temperature=100.0)
            db_rows.append({"pooling": pooling, **measure(evidence, labels, len(concepts), cnn)})
        text += f"\n### DB: tags+descriptors captions (top 3 of 10 tags), MiniLM, softmax(100 cos)\n\n{table(db_rows)}\n"
        print(table(db_rows))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tag_bridge_tables.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
