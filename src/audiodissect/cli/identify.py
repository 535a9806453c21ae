"""``audiodissect identify``: closed-set concepts per unit of a recorded run (Module A: TAB and DB)."""

from __future__ import annotations

from ._options import add_run_option


def register(sub) -> None:
    p = sub.add_parser("identify", help="name each unit's closed-set concepts (TAB and DB evidence)",
                       description="Compute the evidence matrices (TAB: audio-text; DB: clip descriptions) over "
                                   "the concept set and rank concepts per unit with each similarity function. "
                                   "Writes units/identify.jsonl, concepts.txt and evidence/<method>.npy. DB "
                                   "needs descriptions: run `audiodissect describe` first or pass --descriptions.")
    add_run_option(p)
    p.add_argument("--concepts", metavar="FILE",
                   help="concept set, one per line (default: the run's setting, else the probing set's)")
    p.add_argument("--method", nargs="+", choices=("tab", "db"), metavar="METHOD",
                   help="evidence: tab (audio-text), db (descriptions) (default: the run's setting, else both)")
    p.add_argument("--similarity", nargs="+", metavar="NAME",
                   help="similarity functions: cos, cos3, rank_reorder, wpmi, soft_wpmi "
                        "(default: the run's setting, else all)")
    p.add_argument("--descriptions", metavar="FILE",
                   help="JSON file of clip descriptions (clip id or file name -> text, the original AND format); "
                        "it becomes the run's descriptions.json")
    p.add_argument("--tab-backend", metavar="SPEC",
                   help="audio-text backend: tag-bridge, tag-bridge:<tagger>, clap, clap:<id> "
                        "(default: the run's setting, else tag-bridge)")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..errors import AudioDissectError, unknown_name_error
    from ..similarity import FUNCTIONS
    from ._stage import open_run

    d = open_run(args.run)
    run = d.run_dir
    for name in args.similarity or ():
        if name not in FUNCTIONS:
            raise unknown_name_error("similarity function", name, FUNCTIONS)
    if args.descriptions:
        d.import_descriptions(args.descriptions)
        print(f"descriptions from {args.descriptions} -> {run.descriptions_path}")
    methods = list(dict.fromkeys(args.method)) if args.method else d.config.identify.methods
    if "db" in methods and not run.descriptions_path.exists():
        raise AudioDissectError(f"DB needs clip descriptions and {run.path} has none",
                                hint=f"run `audiodissect describe --run {run.path}`, pass --descriptions FILE, "
                                     "or use --method tab")
    records = d.identify(args.concepts, methods=methods, similarities=args.similarity,
                         tab_backend=args.tab_backend)
    cfg = d.config.identify
    section = run.stage("identify")
    how = ("unchanged since the last identify (nothing recomputed)" if d.runner.outcomes["identify"].reused
           else f"{section['seconds']} s")
    units = len({(r["layer"], r["index"]) for r in records})
    print(f"{units} units x {len(section['methods'])} methods ({', '.join(section['methods'])}) x "
          f"{len(cfg.similarities)} similarities over {section['concepts']} concepts: {how}")
    if section.get("circular"):
        print("note: the TAB tagger is the dissected model itself, so TAB results are circular")
    print(f"records: {run.units_path('identify')}")
    return 0
