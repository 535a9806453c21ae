"""``audiodissect report``: write the static HTML report of a run directory."""

from __future__ import annotations

from ._options import add_run_option


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="write the static HTML report of a run (opens from disk)",
        description="Write report/index.html with the run's overview, analyses, evaluation tables, a sortable "
                    "table of all units and detail pages (top and bottom clips with audio, concepts, "
                    "summaries) for the best units of each layer. Shows whatever stages the run holds.")
    add_run_option(p)
    p.add_argument("--units-per-layer", type=int, default=20, metavar="N",
                   help="detail pages per layer, best scored first (default: 20)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: <run>/report)")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..errors import AudioDissectError
    from ..report import build_report
    from ..rundir import RunDir

    if args.units_per_layer < 0:
        raise AudioDissectError(f"--units-per-layer must be 0 or more, got {args.units_per_layer}")
    index = build_report(RunDir(args.run, create=False), units_per_layer=args.units_per_layer, out=args.out)
    print(f"report: {index}")
    return 0
