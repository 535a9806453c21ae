"""``audiodissect evaluate``: measure how well dissection works."""

from __future__ import annotations

import importlib

#: (module, register function) of each ``evaluate`` sub-command.
SUBCOMMANDS = (
    ("audiodissect.cli.evaluate_last_layer", "register"),
    ("audiodissect.cli.evaluate_pruning", "register"),
    ("audiodissect.cli.evaluate_pruning", "register_importance"),
    ("audiodissect.cli.evaluate_planted", "register"),
    ("audiodissect.cli.evaluate_causal", "register"),
)


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="measure dissection: last-layer accuracy, pruning, planted units, causal "
                                        "and stability checks of the names",
                       description="Evaluations with known answers: last-layer dissection accuracy (the "
                                   "paper's Table 2), concept-specific pruning (Table 4), feature importance "
                                   "(Fig. 4), and recovery of planted ground-truth units.")
    evaluate_sub = p.add_subparsers(dest="evaluation", metavar="EVALUATION", required=True)
    for module, function in SUBCOMMANDS:
        getattr(importlib.import_module(module), function)(evaluate_sub)
