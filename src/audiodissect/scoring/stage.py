"""The score and last-layer stages: explanation scores on held-out clips, and the classifier's own classes."""

from __future__ import annotations

import logging
from typing import Any

from ..errors import AudioDissectError
from ..rundir import LAST_LAYER, SCORE, UNITS
from ..stage import Context, Stage, StageOutcome
from .score import ExplanationEvidence, score_inputs, write_scores

log = logging.getLogger("audiodissect")


class ScoreStage(Stage):
    """Explanation scores (``units/score.jsonl``, ``score/summary.csv``, ``score/by_layer.md``).

    The description predictor embeds texts with the run's ``identify.text_embedder``;
    with ``score.audio_text`` the audio-text predictor is the run's
    ``identify.tab_backend`` on the held-out clips (its clip side cached with
    the probing set). A tag bridge there embeds the explanation texts as they
    are (:data:`~audiodissect.evidence.tag_bridge.EXPLANATION_TEMPLATE`), the
    vectors the description predictor computed: each distinct text is embedded
    once per stage, for both predictors.
    """

    name = "score"
    outputs = (f"{UNITS}/score.jsonl", SCORE)

    def inputs(self, ctx: Context) -> dict[str, Any]:
        from ..evidence.tag_bridge import EXPLANATION_TEMPLATE

        cfg = ctx.config
        return {**score_inputs(ctx.run), "embedder": cfg.identify.text_embedder,
                "audio_text": cfg.identify.tab_backend if cfg.score.audio_text else None,
                # a tag bridge's template for the explanations: scores made with another are not reused
                "explanation_template": EXPLANATION_TEMPLATE if cfg.score.audio_text else None,
                "bootstrap": cfg.score.bootstrap, "seed": cfg.score.seed}

    def reaches(self, ctx: Context) -> dict[str, str | None]:
        from ..evidence.backends import evidence_reach
        from ..text_embedder import text_embedder_reach

        cfg = ctx.config
        return {"identify.tab_backend": evidence_reach(cfg.identify.tab_backend) if cfg.score.audio_text else None,
                "identify.text_embedder": text_embedder_reach(cfg.identify.text_embedder)}

    def audio_text_predictor(self, ctx: Context) -> ExplanationEvidence | None:
        """The audio-text predictor on the run's held-out clips, or None when ``score.audio_text`` is off."""
        if not ctx.config.score.audio_text:
            return None
        from ..evidence import is_circular, load_evidence_backend
        from .audio_text import AudioTextEvidence
        from .score import heldout_rows

        backend = load_evidence_backend(ctx.config.identify.tab_backend, device=ctx.config.record.device)
        if is_circular(ctx.run.stage("record")["model"], backend):
            log.warning("the audio-text predictor's tagger is the dissected model: its scores are circular")
        probe = ctx.probe
        return AudioTextEvidence(backend, probe, heldout_rows(ctx.run), cache_dir=ctx.run.probe_cache(probe))

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], list[dict]]:
        from ..text_embedder import load_text_embedder

        cfg = ctx.config.score
        return write_scores(ctx.run, embedder=load_text_embedder(ctx.config.identify.text_embedder),
                            evidence_fn=self.audio_text_predictor(ctx), hook=ctx.hook, executor=ctx.executor,
                            bootstrap=cfg.bootstrap, seed=cfg.seed)

    def load(self, ctx: Context) -> list[dict]:
        return ctx.run.read_units("score")


class LastLayerStage(Stage):
    """Last-layer dissection accuracy (the paper's Table 2): ``evaluation/last_layer.csv``.

    The output units' classes are known, so the concepts named for them by
    every method and similarity function (and ICL, when the run has
    summaries) are compared with their class names.
    """

    name = "last-layer"
    outputs = (LAST_LAYER,)

    def inputs(self, ctx: Context) -> dict[str, Any]:
        run = ctx.run
        if not run.has_units("identify"):
            raise AudioDissectError(f"{run.path} has no identified concepts to evaluate",
                                    hint=f"run `audiodissect identify --run {run.path}` first")
        record = run.stage("record")
        if run.output_layer() is None or not record.get("class_names"):
            raise AudioDissectError("no recorded layer is the model's output layer with named classes",
                                    hint="record the classifier layer of a model with named classes")
        stages = run.manifest()["stages"]
        return {**{name: stages.get(name, {}).get("key") for name in ("record", "identify", "summarize")},
                "text_embedder": ctx.config.identify.text_embedder}

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        from ..text_embedder import load_text_embedder
        from .last_layer import write_last_layer

        rows = write_last_layer(ctx.run, embedder=load_text_embedder(ctx.config.identify.text_embedder))
        return {"rows": rows}, rows

    def load(self, ctx: Context) -> list[dict[str, Any]]:
        return list(ctx.run.stage(self.name)["rows"])

    def lines(self, ctx: Context, outcome: StageOutcome) -> list[str]:
        from .last_layer import format_table

        lines = [format_table(outcome.section["rows"])]
        if ctx.run.stage("identify").get("circular"):
            lines.append(f"note: TAB's tagger is the dissected model itself ({ctx.run.stage('record')['model']}): "
                         "its output units explain themselves, so the TAB rows are circular and say nothing about "
                         "the method")
        return lines
