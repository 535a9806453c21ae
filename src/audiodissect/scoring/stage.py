"""The score stage: score every explanation of a run on its held-out clips, with the run's own backends."""

from __future__ import annotations

import logging
from typing import Any

from ..progress import ProgressHook
from ..rundir import SCORE, UNITS, RunDir
from ..stage import Stage
from .score import ExplanationEvidence, score_inputs, write_scores

log = logging.getLogger("audiodissect")


class ScoreStage(Stage):
    """Explanation scores (``units/score.jsonl``, ``score/summary.csv``, ``score/by_layer.md``).

    Parameters
    ----------
    embedder : TextEmbedder, optional
        Default: the run's ``identify.text_embedder``.
    evidence_fn : ExplanationEvidence, optional
        The audio-text predictor; default: the run's ``identify.tab_backend``
        on the held-out clips (its clip side cached with the probing set).
    audio_text : bool
        Predict with the audio-text backend too (needs the probing set's audio).
    """

    name = "score"
    outputs = (f"{UNITS}/score.jsonl", SCORE)

    def __init__(self, *, embedder: Any = None, evidence_fn: ExplanationEvidence | None = None,
                 audio_text: bool = True):
        self._embedder = embedder
        self._evidence_fn = evidence_fn
        self.audio_text = audio_text

    def embedder(self, ctx: Any) -> Any:
        if self._embedder is None:
            from ..text_embedder import load_text_embedder

            self._embedder = load_text_embedder(ctx.config.identify.text_embedder)
        return self._embedder

    def evidence_fn(self, ctx: Any) -> ExplanationEvidence | None:
        if self._evidence_fn is None and self.audio_text:
            from ..evidence import is_circular, load_evidence_backend
            from .audio_text import AudioTextEvidence
            from .score import heldout_rows

            backend = load_evidence_backend(ctx.config.identify.tab_backend, device=ctx.config.record.device)
            if is_circular(ctx.run.stage("record")["model"], backend):
                log.warning("the audio-text predictor's tagger is the dissected model: its scores are circular")
            probe = ctx.probe
            self._evidence_fn = AudioTextEvidence(backend, probe, heldout_rows(ctx.run),
                                                  cache_dir=ctx.run.probe_cache(probe))
        return self._evidence_fn

    def inputs(self, ctx: Any) -> dict[str, Any]:
        audio_text = self._evidence_fn if self._evidence_fn is not None else (
            ctx.config.identify.tab_backend if self.audio_text else None)
        embedder = self._embedder if self._embedder is not None else ctx.config.identify.text_embedder
        parts = score_inputs(ctx.run, embedder=embedder, evidence_fn=None)
        parts["embedder"] = embedder if isinstance(embedder, str) else parts["embedder"]
        parts["audio_text"] = audio_text if isinstance(audio_text, str) or audio_text is None else \
            getattr(audio_text, "name", type(audio_text).__name__)
        return parts

    def run(self, ctx: Any, key: str) -> tuple[dict[str, Any], list[dict]]:
        from ..executor import make_executor

        return write_scores(ctx.run, embedder=self.embedder(ctx), evidence_fn=self.evidence_fn(ctx), hook=ctx.hook,
                            executor=make_executor(getattr(ctx.config, "executor", None)))

    def load(self, ctx: Any) -> list[dict]:
        return ctx.run.read_units("score")


def score_run(run: RunDir, *, embedder: Any, evidence_fn: ExplanationEvidence | None = None,
              hook: ProgressHook | None = None) -> list[dict[str, Any]]:
    """Score the explanations of `run` as the score stage (see :func:`~audiodissect.scoring.score.write_scores`).

    Nothing is recomputed when the explanations, descriptions, activations and
    predictors are those of the last score stage.
    """
    from ..config import RunConfig
    from ..stage import Context, Runner

    ctx = Context(run, RunConfig(), hook=hook)
    stage = ScoreStage(embedder=embedder, evidence_fn=evidence_fn, audio_text=evidence_fn is not None)
    return Runner(run)(stage, ctx).value
