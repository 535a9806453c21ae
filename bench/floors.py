"""Every stage's time against its floor, in one process: CPU seconds and wall seconds.

A new run directory is dissected stage by stage (``record``, ``describe``,
``identify``, ``stability``, ``summarize``, ``score``; ``--stages`` changes
the list), each stage's CPU time (``time.process_time``: every thread of
the process) and wall time taken, and right after each stage, in the same
process, its floor on the same inputs (so that a stage and its floor share
the machine's drift). The model is loaded and run once over the clips
before the first stage is timed: the first forward pass of a process pays
for allocating its buffers and setting up its kernels, which neither a
stage nor its floor should be charged for (the floors run warm):

* **record**: the bare forward pass (preprocessing included, no hooks) over
  the same clips, in the same length-sorted batches;
* **describe**: the tagger's bare forward pass over the same clips (the
  clip descriptions are cached per probing set in the user cache: a stage
  that found them there is marked "reused");
* **identify**: one read of each layer, one matrix product of its
  normalised activations against every method's evidence and the
  permutation null's shuffled copies of it (what naming tests each name
  against), and a top-5 per unit;
* **stability**: the bare forward pass over the probe clips (with noise) and
  one matrix product per bootstrap resample;
* **summarize**: the LLM's answers to the run's distinct prompts, asked
  directly (no cache, nothing else): the floor of the extractive default.
  The stage itself reads the user cache's tag store for its summaries'
  words (``AUDIODISSECT_TEXT_TAGS=0`` turns it off: every process then
  tags them with spaCy again);
* **score**: embedding each distinct text the score stage needs once (its
  explanations and the held-out clips' descriptions, with a new embedder
  that computes every vector: the user cache's text embedding store is not
  read), and one matrix product of the two. The stage itself reads the
  store (``AUDIODISSECT_TEXT_EMBEDDINGS=0`` turns it off: every process
  then embeds its texts again).

Every other stage is timed without a floor. The ratio is stage / floor, both
in CPU seconds, measured one after the other in one process; wall seconds
are printed beside them (they move with the machine's load).

Usage::

    python bench/floors.py                                # the default run (demo CNN, its 6 layers)
    python bench/floors.py --model yamnet --layers '*' --clips-per-label 30
    python bench/floors.py --model yamnet --layers '*' --device cuda

``--clips-per-label`` limits the soundbank (default: all 118 per label);
``--layers`` takes module paths or globs (``'*'``: every layer with units).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


def clock(fn: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call of `fn`."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def forward_floor(target, waves: list[np.ndarray], batch_size: int, device: str | None) -> None:
    """The bare forward pass of `target` over `waves`, batched by exact length as the recording is."""
    from audiodissect.record import length_batches
    from audiodissect.targets.base import move_to

    module = target.module.eval()
    with torch.inference_mode():
        for rows in length_batches([len(w) for w in waves], batch_size):
            x = move_to(target.preprocess([waves[int(r)] for r in rows]), device or "cpu")
            out = target.forward(module, x)
            if isinstance(out, torch.Tensor):
                out.float().cpu()


def unit_columns(x: torch.Tensor) -> torch.Tensor:
    x = x - x.mean(dim=0, keepdim=True)
    return x / torch.linalg.vector_norm(x, dim=0, keepdim=True).clamp_min(1e-12)


def identify_floor(run, permutations: int, device: str) -> None:
    """Each layer read once, one product against all evidence and its shuffles, a top-5 per unit."""
    rows = run.probe_rows()
    methods = run.stage("identify")["methods"]
    evidence = np.concatenate([np.load(run.evidence_path(m))[rows] for m in methods], axis=1).astype(np.float32)
    rng = np.random.default_rng(0)
    shuffled = np.concatenate([evidence] + [evidence[rng.permutation(len(rows))] for _ in range(permutations)],
                              axis=1)
    p = unit_columns(torch.from_numpy(shuffled).to(device))
    width = evidence.shape[1]
    for layer in run.stage("record")["layers"]:
        acts = torch.from_numpy(np.ascontiguousarray(np.asarray(run.activations(layer, mmap=True))[rows]))
        scores = unit_columns(acts.to(device)).T @ p
        torch.topk(scores[:, :width], k=min(5, width), dim=1).indices.cpu()


def stability_floor(ctx, resamples: int, device: str) -> None:
    """The bare forward pass over the probe clips with noise, and one product per bootstrap resample."""
    from audiodissect.identify.stability import noisy_waveforms
    from audiodissect.record import read_waveforms

    run, cfg = ctx.run, ctx.config
    rows = run.probe_rows()
    target = ctx.target
    waves = noisy_waveforms(read_waveforms(ctx.probe, rows, sample_rate=target.sample_rate),
                            noise=cfg.stability.noise, seed=cfg.stability.seed)
    forward_floor(target, waves, cfg.record.batch_size, cfg.record.device)
    names = [r for r in run.read_units("names") if r.name is not None]
    methods = run.stage("identify")["methods"]
    evidence = np.concatenate([np.load(run.evidence_path(m))[rows] for m in methods], axis=1).astype(np.float32)
    rng = np.random.default_rng(0)
    for layer in dict.fromkeys(r.layer for r in names):
        units = np.array([r.index for r in names if r.layer == layer])
        acts = np.asarray(run.activations(layer, mmap=True))[rows][:, units]
        for _ in range(resamples):
            pick = rng.integers(0, len(rows), size=len(rows))
            a = unit_columns(torch.from_numpy(np.ascontiguousarray(acts[pick])).to(device))
            (a.T @ unit_columns(torch.from_numpy(evidence[pick]).to(device))).argmax(dim=1).cpu()


def summarize_floor(run, llm) -> int:
    """The LLM's answers to the run's distinct prompts (read from the run's answer cache); returns their count."""
    from audiodissect.summarize.extractive import _concept_stems, _terms

    with sqlite3.connect(run.llm_cache_path) as db:
        prompts = [row[0] for row in db.execute("SELECT prompt FROM answers ORDER BY created")]
    _terms.cache_clear()  # the backend parses each description and concept once in this call, not never
    _concept_stems.cache_clear()
    llm.complete(prompts)
    return len(prompts)


def score_floor(run, embedder_spec: str, device: str) -> int:
    """Each distinct text of the score stage embedded once by a new embedder, and one product; returns the count."""
    from audiodissect.probes.base import HELDOUT
    from audiodissect.scoring.score import collect_explanations
    from audiodissect.text_embedder import SentenceEmbedder

    identify, summaries = run.read_units("identify"), run.read_units("summarize")
    texts = list(dict.fromkeys(e["text"] for e in collect_explanations(identify, summaries)))
    held = [d for d, c in zip(run.descriptions() or [], run.clips()) if c.split == HELDOUT]
    embedder = SentenceEmbedder(embedder_spec, device=device, store=None)  # computed, not read from the store
    embedder.dim  # the model loads outside the timing of the texts
    explanation = torch.from_numpy(embedder.encode(texts))
    clips = torch.from_numpy(embedder.encode(list(dict.fromkeys(held))))
    (explanation @ clips.T).cpu()
    return len(texts) + len(set(held))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo-cnn")
    parser.add_argument("--layers", nargs="*", default=None, help="module paths or globs (default: the model's)")
    parser.add_argument("--clips-per-label", type=int, default=None, help="soundbank clips per label")
    parser.add_argument("--device", default=None, help="torch device of the model and the text embedder")
    parser.add_argument("--stages", nargs="+", default=["record", "describe", "identify", "stability", "summarize",
                                                         "score"])
    parser.add_argument("--out", default=None, help="run directory (default: a new temporary one)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)

    import audiodissect as ad
    from audiodissect.dissection import stage_method
    from audiodissect.progress import silent

    out = Path(args.out or tempfile.mkdtemp(prefix="floors-"))
    options = {"clips_per_label": args.clips_per_label} if args.clips_per_label else None
    d = ad.Dissection(args.model, probe="soundbank", out=out, probe_options=options, device=args.device,
                      hook=silent)
    if args.layers:
        d.config.record.layers = list(args.layers)
    device = args.device or "cpu"
    run, ctx = d.run_dir, d.context

    def bare_forward() -> None:
        waves = [ctx.probe.audio(i, sample_rate=ctx.target.sample_rate) for i in range(len(ctx.probe))]
        forward_floor(ctx.target, waves, d.config.record.batch_size, d.config.record.device)

    if {"record", "stability"} & set(args.stages):
        bare_forward()  # loaded and run once, untimed: no stage or floor pays the model's first-use costs
    floors: dict[str, tuple[str, Callable[[], object]]] = {
        "record": ("bare forward, same clips and batches", bare_forward),
        "describe": ("bare tagger forward over the clips", lambda: _tagger_floor(ctx, device)),
        "identify": ("1 read/layer, 1 product vs evidence + null, top-5",
                     lambda: identify_floor(run, d.config.identify.permutations, device)),
        "stability": ("bare forward (noisy probe clips) + 1 product/resample",
                      lambda: stability_floor(ctx, d.config.stability.resamples, device)),
        "summarize": ("the LLM's answers to the distinct prompts, uncached",
                      lambda: summarize_floor(run, _llm(d.config.summarize.llm))),
        "score": ("each distinct text embedded once + 1 product",
                  lambda: score_floor(run, d.config.identify.text_embedder, device)),
    }
    rows: list[dict] = []
    for name in args.stages:
        cpu, wall = clock(getattr(d, stage_method(name)))
        outcome = d.runner.outcomes.get(name)
        reused = "reused" if outcome is not None and outcome.reused else ""
        if name == "describe" and outcome is not None and outcome.section.get("n_cached"):
            reused = f"{outcome.section['n_cached']} of {outcome.section['n_clips']} descriptions from the user cache"
        nothing_done = outcome is not None and (outcome.reused or (
            name == "describe" and outcome.section.get("n_cached") == outcome.section.get("n_clips")))
        row = {"stage": name, "cpu": cpu, "wall": wall, "reused": reused, "nothing_done": nothing_done}
        if name in floors and not nothing_done:  # e.g. every description from the user cache: no floor
            row["floor"], fn = floors[name]
            row["floor_cpu"], row["floor_wall"] = clock(fn)  # right after its stage: the machine's drift is shared
        rows.append(row)
    units = sum(run.stage("record")["layers"].values()) if run.has_stage("record") else 0
    layers = len(run.stage("record")["layers"]) if run.has_stage("record") else 0
    from audiodissect.summarize.tagging import TagStore
    from audiodissect.text_embedder import EmbeddingStore

    print(f"model {args.model}, {layers} layers, {units} units, {len(run.clips())} clips, device {device}, "
          f"torch threads {torch.get_num_threads()}, text embedding store "
          f"{'on' if EmbeddingStore.enabled() else 'off'}, tag store {'on' if TagStore.enabled() else 'off'}")
    print(f"{'stage':10s} {'cpu s':>8s} {'wall s':>8s} {'floor cpu':>10s} {'floor wall':>10s} {'cpu ratio':>9s}  floor")
    for row in rows:
        floor = row.get("floor_cpu")
        ratio = f"{row['cpu'] / floor:8.2f}x" if floor else "        -"
        print(f"{row['stage']:10s} {row['cpu']:8.2f} {row['wall']:8.2f} "
              f"{floor if floor is not None else float('nan'):10.2f} "
              f"{row.get('floor_wall', float('nan')):10.2f} {ratio}  {row.get('floor', '')}"
              f"{' (' + row['reused'] + ')' if row['reused'] else ''}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def _tagger_floor(ctx, device: str) -> None:
    from audiodissect.targets import load_target

    tagger = load_target("yamnet", device=None if device == "cpu" else device)
    waves = [ctx.probe.audio(i, sample_rate=tagger.sample_rate) for i in range(len(ctx.run.clips()))]
    forward_floor(tagger, waves, 32, None if device == "cpu" else device)


def _llm(spec: str):
    from audiodissect.summarize.llms import load_llm

    return load_llm(spec)


if __name__ == "__main__":
    sys.exit(main())
