"""``audiodissect run``: every stage of a dissection in turn, degrading stage by stage.

The stages themselves live in their packages (``record/``, ``describe/``,
``identify/``, ``summarize/``, ``scoring/``, ``prune/``, ``analyses/``,
``report/``); this module only runs the chosen ones through
:class:`~audiodissect.dissection.Dissection` and prints what ``run`` shows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .errors import AudioDissectError

log = logging.getLogger("audiodissect")


def _record(d: Any) -> None:
    d.record()
    layers = d.run_dir.stage("record")["layers"]
    d.echo(f"recorded {sum(layers.values())} units in {len(layers)} layers")


def _summarize(d: Any) -> None:
    d.summarize()
    summary = d.run_dir.stage("summarize")
    if d.runner.outcomes["summarize"].reused:  # the stage's key matched: no prompt was built
        d.echo(f"LLM {summary['llm']}: 0 calls, 0 cache hits (summaries of the last run reused)")
    else:
        d.echo(f"LLM {summary['llm']}: {summary['llm_calls']} calls, {summary['llm_cache_hits']} cache hits")


def _prune(d: Any) -> None:
    from .prune.evaluate import format_table

    run = d.run_dir
    if not (run.has_units("identify") and run.has_units("summarize")):
        raise AudioDissectError("pruning needs the identify and summarize results")
    if not run.stage("record").get("class_names"):
        raise AudioDissectError("the model has no class names to prune")
    result = d.prune()
    d.echo("pruning (held-out confidence change; dA: the concept's clips, dR: the rest)")
    d.echo(format_table(result.table))


def _last_layer(d: Any) -> None:
    from .scoring.last_layer import last_layer_report

    if d.run_dir.has_units("identify"):
        try:
            d.echo(last_layer_report(d.run_dir))
        except AudioDissectError as exc:  # a model without named classes has no last-layer table
            d.echo(f"last-layer accuracy: not available ({exc.message})")


def _report(d: Any) -> None:
    d.echo(f"report: {d.report()}")


STEPS = {
    "record": _record,
    "describe": lambda d: d.describe(),
    "identify": lambda d: d.identify(),
    "summarize": _summarize,
    "score": lambda d: d.score(),
    "prune": _prune,
    "analyze": lambda d: d.analyze(),
    "report": _report,
}


def run_stages(d: Any, stages: Sequence[str]) -> dict[str, Any]:
    """Run `stages` of dissection `d` in the pipeline's order; returns the outcomes of those that ran.

    A stage that fails with a user-facing error is reported (``[stage] skipped:
    reason``) and the later stages still run with what exists.
    """
    d.echo(d.probe.describe())
    for name, step in STEPS.items():
        if name in stages:
            try:
                step(d)
            except AudioDissectError as exc:
                d.echo(f"[{name}] skipped: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
                log.info("stage %s skipped: %s", name, exc)
        if name == "prune":
            _last_layer(d)
    return dict(d.runner.outcomes)
