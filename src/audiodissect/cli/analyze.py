"""``audiodissect analyze``: the paper's analyses of a run, as data and plots under analysis/."""

from __future__ import annotations

from ._options import add_run_option
from ._settings import add_setting_flags

FLAGS = (("--k", ("analyze", "k")),
         ("--kprime", ("analyze", "kprimes")),
         ("--top", ("analyze", "top")),
         ("--seed", ("analyze", "seed")),
         ("--rule", ("analyze", "rule")))


def register(sub) -> None:
    p = sub.add_parser(
        "analyze", help="adjective statistics, uninterpretable units per layer, accuracy plots",
        description="Count the acoustic adjectives of unit summaries (overall and per layer, with a linear fit "
                    "over depth), cluster the clip-description sentences with k-means and count units whose "
                    "top clips share no cluster, and plot the last-layer accuracy. Writes CSV, JSON and PNG "
                    "files under <run>/analysis/; analyses whose inputs are missing are skipped.")
    add_run_option(p)
    add_setting_flags(p, FLAGS, of_run=True)
    p.set_defaults(handler=main)


def main(args) -> int:
    from ._stage import open_run

    d = open_run(args, FLAGS, needs_record=False)
    summary = d.analyze().summary
    adj = summary.get("adjectives")
    if adj:
        top = ", ".join(f"{w} ({c})" for w, c in adj["top"][:5]) or "none"
        print(f"adjectives: {adj['units']} units; most frequent: {top}")
        if adj.get("trend"):
            t = adj["trend"]
            print(f"adjectives per unit over depth: slope {t['slope']:.3g} per layer, p = {t['p_value']:.3g}")
    un = summary.get("uninterpretable")
    if un:
        for row in un["by_layer"]:
            shares = ", ".join(f"K'={kp}: {100 * row[f'share_k{kp}_any']:.0f}% (majority rule "
                               f"{100 * row[f'share_k{kp}_majority']:.0f}%)" for kp in un["kprimes"])
            print(f"uninterpretable {row['layer']}: {shares}")
    for name, reason in summary.get("skipped", {}).items():
        print(f"skipped {name}: {reason}")
    print(f"analysis: {d.run_dir.analysis_dir}")
    return 0
