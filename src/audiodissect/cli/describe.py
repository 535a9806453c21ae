"""``audiodissect describe``: one description per clip of a recorded run (Step 1)."""

from __future__ import annotations

from ..captioners.specs import CAPTIONERS
from ._options import add_run_option


def register(sub) -> None:
    p = sub.add_parser("describe", help="describe every clip of a recorded run with a captioner",
                       description="Write one natural-language description per clip (probe and held-out) "
                                   "of a run directory recorded by `audiodissect record` to "
                                   "descriptions.json. Descriptions are cached per clip, so an interrupted "
                                   "call resumes.")
    add_run_option(p)
    p.add_argument("--captioner", metavar="SPEC",
                   help=f"{CAPTIONERS.help()}; tags is offline (tagger + acoustic descriptors), the JSON file "
                        "maps clip ids or file names to texts, the original AND format (default: the run's setting, "
                        "else tags)")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ._stage import open_run

    d = open_run(args.run)
    run = d.run_dir
    texts = d.describe(args.captioner)
    section = run.stage("describe")
    if d.runner.outcomes["describe"].reused:
        how = "unchanged since the last describe (nothing recomputed)"
    else:
        how = f"{section['n_described']} described, {section['n_cached']} from the cache, {section['seconds']} s"
    print(f"{len(texts)} descriptions by {d.config.describe.captioner}: {how}")
    print(f"descriptions: {run.descriptions_path}")
    return 0
