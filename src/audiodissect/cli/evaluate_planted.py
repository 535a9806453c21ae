"""``audiodissect evaluate planted``: recover hidden units whose concepts are known by construction."""

from __future__ import annotations

from ._options import add_probe_option_flag
from ._settings import add_setting_flags

FLAGS = (
    ("--model", ("record", "model")),
    ("--probe", ("probe", "name")),
    ("--probe-root", ("probe", "root")),
    ("--device", ("record", "device")),
    ("--methods", ("identify", "methods")),
    ("--similarities", ("identify", "similarities")),
    ("--tab-backend", ("identify", "tab_backend")),
    ("--captioner", ("describe", "captioner")),
    ("--text-embedder", ("identify", "text_embedder")),
    ("--llm", ("summarize", "llm")),
    ("--threshold", ("summarize", "threshold")),
)


def register(evaluate_sub) -> None:
    p = evaluate_sub.add_parser(
        "planted", help="top-1/top-5 recovery of planted units with known concepts",
        description="Wrap the model with a 'planted' layer of known detectors (one copy of each class logit, "
                    "plus low-pitched, high-pitched, noisy, bright and dull detectors computed from the "
                    "waveform), record it over the probing set, identify each planted unit's concept with every "
                    "method and similarity function over the concept set 'class names + acoustic words', and "
                    "report how often the known concept comes first (top-1) or among the first five (top-5). "
                    "Writes planted/table.csv and units/planted.jsonl.")
    add_setting_flags(p, FLAGS)
    add_probe_option_flag(p)
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the results")
    p.add_argument("--no-acoustic", action="store_true", help="plant class copies only")
    p.add_argument("--descriptions", metavar="FILE",
                   help="clip descriptions for DB ({clip id: text} JSON); default: describe with --captioner")
    p.add_argument("--summaries", choices=("contrastive", "plain", "none"), default="contrastive",
                   help="also summarise every planted unit (contrastive: against its bottom clips, as the default "
                        "run does; plain: its top clips alone), calibrate by both rules and report how often each "
                        "text says the unit's concept (default: contrastive)")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..config import RunConfig, merge
    from ..dissection import Dissection
    from ..planted import (PLANTED_LAYER, benchmark_concepts, default_detectors, format_table, plant_units,
                           run_planted)
    from ..targets import load_target
    from ..targets.specs import check_target_spec
    from ._options import parse_key_values
    from ._settings import settings_from_args

    config = merge(RunConfig(), settings_from_args(args, FLAGS))
    config.out = args.out
    config.probe.options.update(parse_key_values(args.probe_option))
    check_target_spec(config.record.model)
    llm = None
    if args.summaries != "none":  # a wrong LLM spec fails here, before the planted layer is recorded
        from ..summarize.llms import load_llm

        llm = load_llm(config.summarize.llm)
    base = load_target(config.record.model, device=config.record.device)
    target = plant_units(base, default_detectors(base.class_names, acoustic=not args.no_acoustic))
    concepts = benchmark_concepts(base.class_names, acoustic=not args.no_acoustic)
    d = Dissection(target, config=config, echo=print)
    d.record(layers=[PLANTED_LAYER])
    run, probe = d.run_dir, d.probe
    rows = run_planted(run, target, probe, concepts=concepts, evidence_fn=_evidence_fn(args, config),
                       methods=config.identify.methods, similarities=config.identify.similarities)
    print(format_table(rows), end="")
    best = max(rows, key=lambda r: r["top1"])
    print(f"best: {best['method']}/{best['similarity']} {best['top1']}% top-1 over {best['units']} planted units "
          f"-> {run.planted_dir / 'table.csv'}")
    if llm is not None:
        _summaries(args, config, run, probe, target, llm)
    return 0


def _summaries(args, config, run, probe, target, backend) -> None:
    """Summarise the planted units, calibrate by both rules, and print how often each text says the concept."""
    import numpy as np

    from ..llm import CachedLLM
    from ..planted import PLANTED_LAYER, planted_class_count, planted_concepts
    from ..planted.summaries import format_summary_table, planted_summaries, summary_recall, write_planted_summaries
    from ..text_embedder import load_text_embedder

    rows = run.probe_rows()
    descriptions = _descriptions(args, config, run, probe)
    llm = CachedLLM(backend, run.llm_cache_path)
    records = planted_summaries(np.asarray(run.activations(PLANTED_LAYER))[rows], [descriptions[i] for i in rows],
                                llm=llm, embedder=load_text_embedder(config.identify.text_embedder),
                                contrastive=args.summaries == "contrastive", threshold=config.summarize.threshold)
    truth = planted_concepts(target)
    table = summary_recall(records, truth, n_classes=planted_class_count(target))
    write_planted_summaries(run, records, truth, table)
    print(f"{args.summaries} summaries by {llm.name}: does the text say the unit's concept?")
    print(format_summary_table(table))
    print(f"-> {run.planted_dir / 'summaries.csv'}")


def _evidence_fn(args, config):
    ident = config.identify

    def evidence(run, probe, concepts, methods):
        from ..evidence import compute_evidence, is_circular

        out = {}
        if "tab" in methods:
            if is_circular(config.record.model, ident.tab_backend):
                import logging

                logging.getLogger("audiodissect").warning(
                    "the tag bridge's tagger is the wrapped model: class-copy units are recovered circularly")
            out["tab"] = compute_evidence("tab", probe, concepts, backend=ident.tab_backend,
                                          cache_dir=run.probe_cache(probe), embedder=ident.text_embedder)
        if "db" in methods:
            out["db"] = compute_evidence("db", probe, concepts, descriptions=_descriptions(args, config, run, probe),
                                         cache_dir=run.probe_cache(probe), embedder=ident.text_embedder)
        return out

    return evidence


def _descriptions(args, config, run, probe) -> list[str]:
    from ..cache import read_json
    from ..errors import AudioDissectError
    from ..scoring.score import description_map

    if args.descriptions:
        stored = description_map(read_json(args.descriptions))
        missing = [c.id for c in probe.clips if c.id not in stored]
        if missing:
            raise AudioDissectError(f"{args.descriptions} lacks {len(missing)} clips (e.g. {missing[0]!r})")
        return [stored[c.id] for c in probe.clips]
    from .. import captioners
    from ..cache import hash_key
    from ..describe import load_captioner

    cache = run.probe_cache(probe)  # tag logits shared with TAB
    captioner = load_captioner(config.describe.captioner, probe, cache_dir=cache)
    store = cache / f"descriptions-{hash_key(config.describe.captioner)[:12]}.json"
    return list(captioners.describe_cached(captioner, captioners.probe_clips(probe), store))
