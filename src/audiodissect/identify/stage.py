"""The identify stage: evidence matrices and each unit's closed-set concepts (``units/identify.jsonl``)."""

from __future__ import annotations

import warnings
from typing import Any

from ..cache import hash_key, save_npy
from ..errors import AudioDissectError
from ..probes.base import ProbeSet
from ..rundir import CONCEPTS, UNITS
from ..stage import Context, Stage
from .concepts import clean_concepts, load_concepts

EMPTY_DESCRIPTIONS = "every clip description is empty"


def read_concepts(path: str | None, probe: ProbeSet, *, acoustic: bool = False) -> list[str]:
    """The concept set: the given file, else the probing set's concept file, else its labels.

    With `acoustic` and no file, the default acoustic words
    (:func:`audiodissect.evidence.default_acoustic_concepts`: low-pitched,
    high-pitched, noisy, bright, dull) follow the labels, so that hidden units
    can be named by what they hear; a word already in the labels is not repeated.
    """
    if path:
        return load_concepts(path)
    if probe.concepts_file is not None:
        concepts = load_concepts(probe.concepts_file)
    else:
        concepts = clean_concepts(probe.labels, source=probe.name)
    if acoustic:
        from ..evidence import default_acoustic_concepts

        concepts = list(dict.fromkeys(concepts + default_acoustic_concepts()))
    return concepts


class IdentifyStage(Stage):
    """Module A over every recorded unit; DB is left out when the run has no descriptions."""

    name = "identify"
    outputs = (CONCEPTS, f"{UNITS}/identify.jsonl")

    def methods(self, ctx: Context) -> list[str]:
        return [m for m in dict.fromkeys(ctx.config.identify.methods) if m not in self.left_out(ctx)]

    def left_out(self, ctx: Context) -> dict[str, str]:
        """{method: reason} of the configured methods this run cannot use (DB without descriptions with text)."""
        if "db" not in ctx.config.identify.methods:
            return {}
        if not ctx.run.descriptions_path.exists():
            return {"db": "the run has no clip descriptions"}
        if not any(text.strip() for text in ctx.run.descriptions() or []):
            return {"db": EMPTY_DESCRIPTIONS}  # all-equal evidence would rank the concepts arbitrarily
        return {}

    def inputs(self, ctx: Context) -> dict[str, Any]:
        cfg = ctx.config.identify
        methods = self.methods(ctx)
        descriptions = ctx.run.descriptions() if "db" in methods else None
        return {"record": ctx.run.stage("record")["key"],
                "concepts": read_concepts(cfg.concepts, ctx.probe, acoustic=cfg.acoustic_concepts),
                "methods": methods, "similarities": list(cfg.similarities),
                "tab_backend": cfg.tab_backend if "tab" in methods else None, "db_scope": cfg.db_scope,
                "db_topk": cfg.db_topk, "text_embedder": cfg.text_embedder, "top": cfg.top,
                "variant": cfg.similarity_variant,
                "descriptions": hash_key(descriptions) if descriptions is not None else None}

    def reaches(self, ctx: Context) -> dict[str, str | None]:
        from ..evidence.backends import evidence_reach
        from ..text_embedder import text_embedder_reach

        cfg = ctx.config.identify
        methods = self.methods(ctx)
        return {"identify.tab_backend": evidence_reach(cfg.tab_backend) if "tab" in methods else None,
                "identify.text_embedder": text_embedder_reach(cfg.text_embedder)}

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], list[dict]]:
        from ..evidence import compute_evidence, is_circular
        from .units import identify_units

        cfg = ctx.config.identify
        run, probe = ctx.run, ctx.probe
        concepts = read_concepts(cfg.concepts, probe, acoustic=cfg.acoustic_concepts)
        methods = self.methods(ctx)
        left_out = self.left_out(ctx)
        if left_out.get("db") == EMPTY_DESCRIPTIONS:
            if not methods:
                raise AudioDissectError(f"{EMPTY_DESCRIPTIONS}: DB has nothing to match",
                                        hint=f"describe the clips again (audiodissect describe --run {run.path} "
                                             "--captioner ...), or use --method tab")
            warnings.warn(f"{EMPTY_DESCRIPTIONS}: DB is left out; identify uses {', '.join(methods)}",
                          stacklevel=2)
        descriptions = run.descriptions() if "db" in methods else None
        run.write_concepts(concepts)
        evidence = {}
        cache = run.probe_cache(probe)
        for method in methods:
            ev = compute_evidence(method, probe, concepts, backend=cfg.tab_backend if method == "tab" else None,
                                  descriptions=descriptions if method == "db" else None, cache_dir=cache,
                                  embedder=cfg.text_embedder)
            save_npy(run.evidence_path(method), ev)
            evidence[method] = ev
        rows = run.probe_rows()
        record = run.stage("record")
        records = identify_units({m: e[rows] for m, e in evidence.items()}, run.probe_activations(), concepts,
                                 similarities=cfg.similarities, top=cfg.top, db_scope=cfg.db_scope,
                                 db_topk=cfg.db_topk, output_layer=run.output_layer(),
                                 variant=cfg.similarity_variant)
        run.write_units("identify", records)
        circular = "tab" in evidence and is_circular(record["model"], cfg.tab_backend)
        return {"concepts": len(concepts), "methods": list(evidence), "circular": circular, "skipped": left_out,
                "similarities": list(cfg.similarities), "units": len(records)}, records

    def load(self, ctx: Context) -> list[dict]:
        return ctx.run.read_units("identify")
