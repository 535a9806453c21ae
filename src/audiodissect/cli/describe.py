"""``audiodissect describe``: one description per clip of a recorded run (Step 1)."""

from __future__ import annotations

from ._options import add_run_option
from ._settings import add_setting_flags

FLAGS = (("--captioner", ("describe", "captioner")),
         ("--timeout", ("describe", "timeout")),
         ("--concurrency", ("describe", "concurrency")),
         ("--allow-failures", ("describe", "allow_failures")))


def register(sub) -> None:
    p = sub.add_parser("describe", help="describe every clip of a recorded run with a captioner",
                       description="Write one natural-language description per clip (probe and held-out) "
                                   "of a run directory recorded by `audiodissect record` to "
                                   "descriptions.json. Descriptions are cached per clip, so an interrupted "
                                   "call resumes.")
    add_run_option(p)
    add_setting_flags(p, FLAGS, of_run=True)
    p.set_defaults(handler=main)


def main(args) -> int:
    from ._stage import open_run

    d = open_run(args, FLAGS)
    texts = d.describe()
    section = d.run_dir.stage("describe")
    if d.runner.outcomes["describe"].reused:
        how = "unchanged since the last describe (nothing recomputed)"
    else:
        how = f"{section['n_described']} described, {section['n_cached']} from the cache"
    print(f"{len(texts)} descriptions by {d.config.describe.captioner}: {how}")
    print(f"descriptions: {d.run_dir.descriptions_path}")
    return 0
