"""``audiodissect evaluate last-layer``: does dissection recover the classifier's own classes?"""

from __future__ import annotations

from ._options import add_run_option


def register(evaluate_sub) -> None:
    p = evaluate_sub.add_parser(
        "last-layer", help="top-1/top-5 accuracy of the concepts named for the classifier's units",
        description="For a model whose output classes are in the concept set, compare each output unit's "
                    "identified concept with its class name, for every method and similarity function. "
                    "Writes evaluation/last_layer.csv.")
    add_run_option(p)
    p.set_defaults(handler=main)


def main(args) -> int:
    from ._stage import open_run

    open_run(args).last_layer()  # the table is the stage's own output
    return 0
