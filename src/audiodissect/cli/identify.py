"""``audiodissect identify``: closed-set concepts per unit of a recorded run (Module A: TAB and DB)."""

from __future__ import annotations

from ._options import add_run_option
from ._settings import add_setting_flags

FLAGS = (("--concepts", ("identify", "concepts")),
         ("--method", ("identify", "methods")),
         ("--similarity", ("identify", "similarities")),
         ("--tab-backend", ("identify", "tab_backend")),
         ("--text-embedder", ("identify", "text_embedder")))


def register(sub) -> None:
    p = sub.add_parser("identify", help="name each unit's closed-set concepts (TAB and DB evidence)",
                       description="Compute the evidence matrices (TAB: audio-text; DB: clip descriptions) over "
                                   "the concept set and rank concepts per unit with each similarity function. "
                                   "Writes units/identify.jsonl, concepts.txt and evidence/<method>.npy. DB "
                                   "needs descriptions: run `audiodissect describe` first or pass --descriptions.")
    add_run_option(p)
    add_setting_flags(p, FLAGS, of_run=True)
    p.add_argument("--descriptions", metavar="FILE",
                   help="JSON file of clip descriptions (clip id or file name -> text, the original AND format); "
                        "it becomes the run's descriptions.json")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..errors import AudioDissectError
    from ._stage import open_run

    d = open_run(args, FLAGS)
    run = d.run_dir
    if args.descriptions:
        d.import_descriptions(args.descriptions)
        print(f"descriptions from {args.descriptions} -> {run.descriptions_path}")
    if "db" in d.config.identify.methods and not run.descriptions_path.exists():
        raise AudioDissectError(f"DB needs clip descriptions and {run.path} has none",
                                hint=f"run `audiodissect describe --run {run.path}`, pass --descriptions FILE, "
                                     "or use --method tab")
    records = d.identify()
    section = run.stage("identify")
    how = ("unchanged since the last identify (nothing recomputed)" if d.runner.outcomes["identify"].reused
           else f"{section['seconds']} s")
    units = len({(r["layer"], r["index"]) for r in records})
    print(f"{units} units x {len(section['methods'])} methods ({', '.join(section['methods'])}) x "
          f"{len(d.config.identify.similarities)} similarities over {section['concepts']} concepts: {how}")
    if section.get("circular"):
        print("note: the TAB tagger is the dissected model itself, so TAB results are circular")
    print(f"records: {run.units_path('identify')}")
    return 0
