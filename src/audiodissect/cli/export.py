"""``audiodissect export``: a run's units, names, explanations, scores and top-clip references as Parquet, JSON lines
or a Hugging Face dataset, plus a Neuronpedia-style JSON file per unit, in a new folder outside the run."""

from __future__ import annotations

from ._options import add_run_option


def register(sub) -> None:
    from ..export import FORMATS

    p = sub.add_parser("export", help="share a run's results as tables others can load (parquet, jsonl, hf-dataset)",
                       description="Write the run's units (names, evidence, summaries, open concepts, activation "
                                   "statistics), closed-set concepts, explanations with their scores, top and bottom "
                                   "clips (references to the audio, not copies) and clips to a new folder outside the "
                                   "run, plus one Neuronpedia-style JSON file per unit. Read it back with "
                                   "audiodissect.read_export(path), pandas or datasets.load_from_disk.")
    add_run_option(p)
    p.add_argument("--format", choices=FORMATS, default="parquet", help="the tables' format (default: parquet)")
    p.add_argument("--out", required=True, metavar="DIR", help="a new folder outside the run")
    p.add_argument("--top", type=int, default=5, metavar="K", help="top and bottom clips per unit (default: 5)")
    p.add_argument("--no-neuronpedia", dest="neuronpedia", action="store_false",
                   help="leave out the per-unit Neuronpedia-style JSON files")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..cache import read_json
    from ..export import MANIFEST
    from ._stage import open_run

    d = open_run(args)
    out = d.export(args.out, format=args.format, top=args.top, neuronpedia=args.neuronpedia)
    manifest = read_json(out / MANIFEST)
    counts = ", ".join(f"{table} {info['rows']}" for table, info in manifest["tables"].items())
    print(f"exported {args.format} to {out} ({counts} rows)"
          + (f"; one JSON per unit in {out / manifest['neuronpedia']}" if manifest.get("neuronpedia") else ""))
    return 0
