"""``audiodissect report``: write the static HTML report of a run directory."""

from __future__ import annotations

from ._options import add_run_option
from ._settings import add_setting_flags

FLAGS = (("--units-per-layer", ("report", "units_per_layer")),
         ("--table-limit", ("report", "table_limit")))


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="write the static HTML report of a run (opens from disk)",
        description="Write report/index.html with the run's overview, analyses, evaluation tables, a sortable "
                    "table of all units and detail pages (top and bottom clips with audio, concepts, "
                    "summaries) for the best units of each layer. Shows whatever stages the run holds.")
    add_run_option(p)
    add_setting_flags(p, FLAGS, of_run=True)
    p.set_defaults(handler=main)


def main(args) -> int:
    from ._stage import open_run

    open_run(args, FLAGS, needs_record=False).report()  # the stage prints where the report is
    return 0
