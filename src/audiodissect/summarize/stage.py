"""The summarize stage: Modules B and C and ICL over every recorded unit (``units/summarize.jsonl``)."""

from __future__ import annotations

from typing import Any

from ..errors import AudioDissectError
from ..records import UnitSummary
from ..rundir import UNITS
from ..stage import Context, Stage, StageOutcome


class SummarizeStage(Stage):
    """Summaries of each unit's top and bottom clips, calibrated, with open concepts and ICL.

    ICL runs when ``summarize.icl`` is set and the identify stage wrote a
    concept set. Every LLM answer is cached in ``cache/llm.sqlite``; the key
    covers each unit's top and bottom clips (not the activation values), the
    descriptions, the LLM, the embedder, the concepts and the settings.

    The prompts go out in batches on the run's executor: in this process, or
    on Ray workers that each build the LLM backend once
    (:class:`~audiodissect.llm.fanout.FannedOutLLM`); the answer cache, the
    failure handling and the records are the same either way, and the key
    leaves the executor out. A remote backend's answers are stored by the
    worker as each arrives; an in-process backend's (extractive, llama.cpp,
    transformers) when its batch returns, before the next is asked once a
    second has passed since the last commit
    (:attr:`~audiodissect.llm.CachedLLM.commit_seconds`).

    Parameters
    ----------
    refresh : bool
        Ask every prompt again instead of reading the run's cached answers
        (an action of one call, not a setting: it is not saved with the run).
    """

    name = "summarize"
    outputs = (f"{UNITS}/summarize.jsonl",)
    items = "prompts"
    allow_flag_of_run = "--allow-failed-prompts"

    def __init__(self, *, refresh: bool = False):
        self.refresh = refresh

    def _inputs(self, ctx: Context) -> tuple[dict, list[str], list[str] | None, Any]:
        from .units import make_summarize_settings

        cfg = ctx.config.summarize
        run = ctx.run
        descriptions = run.descriptions()
        if descriptions is None:
            raise AudioDissectError(f"{run.path} has no clip descriptions",
                                    hint=f"run `audiodissect describe --run {run.path}` first")
        clips = run.clips()
        if len(descriptions) != len(clips):
            raise AudioDissectError(f"{len(descriptions)} descriptions for the run's {len(clips)} clips",
                                    hint=f"describe again: `audiodissect describe --run {run.path}`")
        rows = run.probe_rows()
        texts = [descriptions[i] for i in rows]
        concepts = (run.concepts() or None) if cfg.icl else None
        settings = make_summarize_settings(k=cfg.k, threshold=cfg.threshold, adjective_filter=cfg.adjective_filter,
                                           temperature=cfg.temperature, max_tokens=cfg.max_tokens,
                                           calibration=cfg.calibration, contrastive=cfg.contrastive,
                                           icl_shots=cfg.icl_shots, icl_summary=cfg.icl_summary)
        return run.probe_activations(), texts, concepts, settings

    def inputs(self, ctx: Context) -> dict[str, Any]:
        from .units import summarize_cache_key

        acts, texts, concepts, settings = self._inputs(ctx)
        cfg = ctx.config.summarize
        rows = ctx.run.probe_rows()
        clips = ctx.run.clips()
        return {"llm": cfg.llm, "text_embedder": ctx.config.identify.text_embedder,
                "refresh": self.refresh or None,
                "units": summarize_cache_key(acts, texts, llm_name=cfg.llm,
                                             embedder_name=ctx.config.identify.text_embedder,
                                             concepts=concepts, settings=settings),
                "clips": [clips[i].id for i in rows]}

    def failures_allowed(self, ctx: Context) -> bool:
        return ctx.config.summarize.allow_failures

    def reaches(self, ctx: Context) -> dict[str, str | None]:
        from ..text_embedder import text_embedder_reach
        from .llms import LLMS

        return {"summarize.llm": LLMS.reach(ctx.config.summarize.llm),
                "identify.text_embedder": text_embedder_reach(ctx.config.identify.text_embedder)}

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], list[UnitSummary]]:
        import functools

        from ..llm import CachedLLM
        from ..llm.fanout import FannedOutLLM
        from ..text_embedder import load_text_embedder
        from .llms import load_llm
        from .units import summarize_units

        acts, texts, concepts, settings = self._inputs(ctx)
        cfg = ctx.config.summarize
        run = ctx.run
        rows = run.probe_rows()
        clips = run.clips()
        options = {"timeout": cfg.timeout, "retries": cfg.retries, "concurrency": cfg.concurrency}
        # batches of prompts on the executor (in this process by default), one backend per worker. The answers of
        # a streaming (remote) backend are stored by its worker as each arrives, so a killed run or a stalled
        # server keeps what was answered; the others' come back a batch at a time and are stored here, at most a
        # second's batches together (storing them on the worker too would write every answer twice)
        local = load_llm(cfg.llm, **options)
        streams = hasattr(local, "complete_iter")
        build = functools.partial(load_llm, cfg.llm, cache_path=run.llm_cache_path if streams else None,
                                  refresh=self.refresh, **options)
        backend = FannedOutLLM(build, executor=ctx.executor, name=local.name)
        llm = CachedLLM(backend, run.llm_cache_path, refresh=self.refresh, hook=ctx.hook)
        records = summarize_units(acts, texts, llm=llm, embedder=load_text_embedder(ctx.config.identify.text_embedder),
                                  concepts=concepts, settings=settings, hook=ctx.hook,
                                  clip_ids=[clips[i].id for i in rows])
        run.write_units("summarize", records)
        failures = [{"prompt": f.item, "error": f.error} for f in llm.failures]
        return {"llm": cfg.llm, "llm_calls": llm.calls, "llm_cache_hits": llm.hits, "units": len(records),
                "icl": concepts is not None, "failed": llm.failed, "failures": failures[:20]}, records

    def load(self, ctx: Context) -> list[UnitSummary]:
        return ctx.run.read_units("summarize")

    def lines(self, ctx: Context, outcome: StageOutcome) -> list[str]:
        section = outcome.section
        if outcome.reused:  # the stage's key matched: no prompt was built
            return [f"LLM {section['llm']}: 0 calls, 0 cache hits (summaries of the last run reused)"]
        return [f"LLM {section['llm']}: {section['llm_calls']} calls, {section['llm_cache_hits']} cache hits"]
