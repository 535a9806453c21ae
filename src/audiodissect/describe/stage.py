"""The describe stage: one description per clip (probe and held-out), cached per clip and captioner.

Descriptions depend on the clips' audio alone, never on their labels or splits:
the stage's key and its cache folder use the probing set's
:meth:`~audiodissect.probes.base.ProbeSet.audio_key`, so the same clips under
other labels are not described again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..cache import hash_key
from ..captioners.specs import captioner_reach, check_captioner_spec, load_captioner, source_digest
from ..errors import AudioDissectError
from ..probes.base import ProbeSet
from ..rundir import DESCRIPTIONS, RunDir
from ..stage import Context, Stage


class DescribeStage(Stage):
    """Describe every clip with the configured captioner into ``descriptions.json``.

    Descriptions are cached per clip in the probing set's shared cache, one
    file per captioner, so an interrupted describe resumes and another run on
    the same clips describes nothing again. Shards of clips are described on
    the run's executor (:func:`~audiodissect.captioners.fanout.describe_fanned_out`:
    in this process by default; on Ray, by workers that each build the
    captioner once), into the same cache; the key leaves the executor out.
    """

    name = "describe"
    outputs = (DESCRIPTIONS,)
    items = "clips"
    allow_flag_of_run = "--allow-failed-captions"

    def inputs(self, ctx: Context) -> dict[str, Any]:
        spec = ctx.config.describe.captioner
        check_captioner_spec(spec)
        return {"captioner": spec, "file": source_digest(spec), "audio": ctx.probe.audio_key()}

    def failures_allowed(self, ctx: Context) -> bool:
        return ctx.config.describe.allow_failures

    def reaches(self, ctx: Context) -> dict[str, str | None]:
        return {"describe.captioner": captioner_reach(ctx.config.describe.captioner)}

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], list[str]]:
        import functools

        from ..captioners import probe_clips
        from ..captioners.fanout import describe_fanned_out

        spec = ctx.config.describe.captioner
        probe = ctx.probe
        cache = ctx.run.probe_cache(probe)
        cfg = ctx.config.describe
        options = {"cache_dir": cache, "timeout": cfg.timeout, "concurrency": cfg.concurrency, "retries": cfg.retries}
        captioner = load_captioner(spec, probe, **options)
        store = cache / f"descriptions-{hash_key(spec, source_digest(spec))[:12]}.json"
        # shards of clips, each checkpointed; workers elsewhere build the captioner once from its spec
        texts = describe_fanned_out(captioner, probe_clips(probe), store, executor=ctx.executor, hook=ctx.hook,
                                    build=functools.partial(load_captioner, spec, probe, **options))
        ctx.run.write_descriptions({c.id: t for c, t in zip(probe.clips, texts)})
        failed = dict(getattr(texts, "failed", {}) or {})
        return {"captioner": spec, "n_clips": len(texts), "n_cached": texts.n_cached,
                "n_described": texts.n_described, "failed": len(failed),
                "failures": [{"clip": k, "error": v} for k, v in list(failed.items())[:20]]}, list(texts)

    def load(self, ctx: Context) -> list[str] | None:
        return ctx.run.descriptions()


def import_descriptions(run: RunDir, probe: ProbeSet, path: str | Path) -> dict[str, str]:
    """Make a JSON file of descriptions (clip id or file name -> text) the run's descriptions.

    Every clip must have a description; otherwise nothing is changed and the
    error names the missing clips. Returns {clip id: text}.
    """
    from ..captioners import FileCaptioner, probe_clips

    captioner = FileCaptioner(str(path))
    clips = probe_clips(probe)
    missing = [c.id for c in clips if captioner.lookup(c) is None]
    if missing:
        raise AudioDissectError(f"{path} has no description for {len(missing)} of the run's {len(clips)} clips "
                                f"(e.g. {', '.join(repr(m) for m in missing[:3])})",
                                hint="add them to the file (keys are clip ids or file names); the run's "
                                     "descriptions were left unchanged")
    texts = captioner.describe(clips)
    if not any(t.strip() for t in texts):
        raise AudioDissectError(f"every clip description in {path} is empty: DB would have nothing to match",
                                hint="write the descriptions into the file, or use --method tab; the run's "
                                     "descriptions were left unchanged")
    by_id = {c.id: str(t) for c, t in zip(clips, texts)}
    run.write_descriptions(by_id)
    return by_id
