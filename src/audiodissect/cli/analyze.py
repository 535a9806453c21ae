"""``audiodissect analyze``: the paper's analyses of a run, as data and plots under analysis/."""

from __future__ import annotations

from ._options import add_run_option


def register(sub) -> None:
    p = sub.add_parser(
        "analyze", help="adjective statistics, uninterpretable units per layer, accuracy plots",
        description="Count the acoustic adjectives of unit summaries (overall and per layer, with a linear fit "
                    "over depth), cluster the clip-description sentences with k-means and count units whose "
                    "top clips share no cluster, and plot the last-layer accuracy. Writes CSV, JSON and PNG "
                    "files under <run>/analysis/; analyses whose inputs are missing are skipped.")
    add_run_option(p)
    p.add_argument("--k", type=int, default=11, help="k-means clusters of description sentences (default: 11)")
    p.add_argument("--kprime", type=int, nargs="+", default=[3, 4, 5], metavar="K'",
                   help="a unit is uninterpretable when fewer than K' of its top-5 clips share a cluster "
                        "(default: 3 4 5)")
    p.add_argument("--seed", type=int, default=0, help="k-means seed (default: 0)")
    p.add_argument("--rule", choices=("any", "majority"), default="any",
                   help="uninterpretable units: a clip counts in every cluster one of its sentences falls in "
                        "(any: the paper's rule) or in its majority cluster (both are written; default: any)")
    p.add_argument("--force", action="store_true", help="recompute even if the inputs did not change")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..analyses import run_analyses
    from ..rundir import RunDir

    run = RunDir(args.run, create=False)
    summary = run_analyses(run, k=args.k, kprimes=args.kprime, seed=args.seed, rule=args.rule, force=args.force)
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
    print(f"analysis: {run.analysis_dir}")
    return 0
