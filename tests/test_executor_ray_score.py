"""Scoring on the executor: the text chunks and layers run on Ray workers and give the local records.

One local Ray instance (2 CPUs) serves the module. The predictors travel to
the workers by cloudpickle: the real MiniLM embedder (without its loaded
model, which each worker loads again) and the held-out activations as their
memory-mapped file's name.
"""

import os
from pathlib import Path

import numpy as np

from audiodissect.cache import write_json, write_jsonl
from audiodissect.executor import LocalExecutor, RayExecutor
from audiodissect.probes.base import ClipInfo
from audiodissect.progress import silent
from audiodissect.rundir import RunDir
from audiodissect.scoring import blocks
from audiodissect.scoring.score import write_scores
from audiodissect.text_embedder import load_text_embedder

WORDS = ["dog", "bark", "piano", "note", "rain", "engine", "bird", "song", "low", "bright", "siren", "water"]


def make_run(path: Path, *, n_clips=30, layers=("a", "b", "c"), units=6, seed=0) -> RunDir:
    """A run with seeded activations, clip descriptions and two explanations per unit (many distinct texts)."""
    rng = np.random.default_rng(seed)
    run = RunDir(path)
    clips = [ClipInfo(id=f"clip{i:02d}", label=None, split="probe" if i % 2 else "heldout") for i in range(n_clips)]
    write_jsonl(run.path / "clips.jsonl", [c.to_record() for c in clips])
    write_json(run.path / "descriptions.json", {c.id: " ".join(rng.choice(WORDS, size=3)) for c in clips})
    records = []
    for layer in layers:
        run.save_activations(layer, rng.normal(size=(n_clips, units)).astype(np.float32))
        for u in range(units):
            for method in ("tab", "db"):
                records.append({"unit": f"{layer}#{u}", "layer": layer, "index": u, "method": method,
                                "similarity": "cos3", "concepts": [" ".join(rng.choice(WORDS, size=2))],
                                "scores": [1.0]})
    run.finish_stage("record", "k", {"layers": {layer: units for layer in layers}, "n_clips": n_clips})
    run.write_units("identify", records)
    return run


class KeywordPredictor:
    """A second predictor: how many of a text's words each held-out clip's description has, shape (n, T)."""

    name = "keywords"

    def __init__(self, descriptions):
        self.descriptions = [set(d.split()) for d in descriptions]

    def __call__(self, texts):
        return np.array([[len(d & set(t.split())) for t in texts] for d in self.descriptions], dtype=np.float32)


class DieOnceInAWorker(KeywordPredictor):
    """Kills the worker process that first calls it (a marker file remembers); never the driver."""

    def __init__(self, descriptions, marker: Path):
        super().__init__(descriptions)
        self.marker, self.driver = marker, os.getpid()

    def __call__(self, texts):
        if os.getpid() != self.driver and not self.marker.exists():
            self.marker.write_text("died")
            os._exit(1)
        return super().__call__(texts)


def _heldout_descriptions(run: RunDir) -> list[str]:
    from audiodissect.scoring.score import heldout_descriptions, heldout_rows

    return heldout_descriptions(run, heldout_rows(run))


def _score(run: RunDir, executor, predictor=None):
    return write_scores(run, embedder=load_text_embedder("minilm"), evidence_fn=predictor, hook=silent,
                        executor=executor)[1]


def test_scoring_on_ray_gives_the_local_records(ray_cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(blocks, "TEXTS_PER_CALL", 7)  # several chunks per predictor, most of them on workers
    local = make_run(tmp_path / "local")
    remote = make_run(tmp_path / "ray")
    descriptions = _heldout_descriptions(local)
    expected = _score(local, LocalExecutor(), KeywordPredictor(descriptions))
    got = _score(remote, RayExecutor(workers=2), KeywordPredictor(descriptions))
    assert len({r["text"] for r in expected}) > 3 * 7  # the texts really were split into chunks
    assert got == expected
    assert (remote.score_dir / "summary.csv").read_text() == (local.score_dir / "summary.csv").read_text()


def test_a_worker_killed_mid_scoring_is_retried_with_the_same_records(ray_cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(blocks, "TEXTS_PER_CALL", 7)
    run = make_run(tmp_path / "run")
    descriptions = _heldout_descriptions(run)
    marker = tmp_path / "died"
    got = _score(run, RayExecutor(workers=1, max_retries=2), DieOnceInAWorker(descriptions, marker))
    assert marker.exists()  # a worker did die
    expected = _score(make_run(tmp_path / "local"), LocalExecutor(), KeywordPredictor(descriptions))
    assert got == expected
