"""The frame-level benchmark: do units fire *when* their explained concept sounds, on scenes with known timing?

Generates the ``scenes`` probing set (clips of two to four timed events),
wraps YAMNet with planted frame-level units (:mod:`audiodissect.planted.frames`:
one unit per event label, firing only during that label's events), records
YAMNet's ``--layers`` and the planted layer frame by frame, describes the
clips, identifies every unit (TAB, DB, labels) among the scenes' eight event
labels (``audiodissect/data/scene_concepts.txt``), names them, and prints on the
held-out clips' frames:

1. per explanation source (each identify method and similarity, the units'
   one names, and a random event label per unit as the floor): mean IoU
   (active frames above the unit's 0.9 quantile) and mean AUPRC of the unit's
   frames against where its explanation sounds, and the mean share of
   frames where it sounds (the AUPRC of a constant unit), over the YAMNet
   units whose explanation is an event label;
2. the planted result: of the planted units, how many are **located** (their
   frames' AUPRC against their true label >= 0.9 and their top moment inside
   an event of that label) and **named** (their one name is their label).

It also builds the report (unit pages with moments) and prints its path.

Usage::

    python bench/frames.py --out runs/bench-frames [--clips 160] [--layers layers.layer8_pointwise ...]
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    from audiodissect import Dissection
    from audiodissect.analyses.moments import moments_rows
    from audiodissect.planted.frames import PLANTED_FRAMES, plant_frame_units
    from audiodissect.probes import load_probe
    from audiodissect.scoring.frames import explanations, mean_scores, score_frames
    from audiodissect.targets import load_target

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--clips", type=int, default=160)
    parser.add_argument("--layers", nargs="+", default=["layers.layer8_pointwise", "layers.layer14_pointwise"])
    parser.add_argument("--quantile", type=float, default=0.9)
    parser.add_argument("--units-per-layer", type=int, default=4, help="report pages per layer")
    args = parser.parse_args()

    probe = load_probe("scenes", n_clips=args.clips)
    target = plant_frame_units(load_target("yamnet"), probe)
    d = Dissection(target, probe, out=args.out)
    d.record(layers=[f"model.{name}" for name in args.layers] + [PLANTED_FRAMES], frames="*")
    d.describe()
    d.identify(probe.concepts_file, methods=["tab", "db", "labels"])  # the concept set: the event labels
    run = d.run_dir
    yamnet = [f"model.{name}" for name in args.layers]
    labels = sorted({e.label for e in run.events()})

    sources = sorted({f"{r.method}/{r.similarity}" if r.similarity else r.method
                      for r in run.read_units("identify")})
    print(f"frame-level scores of YAMNet units ({', '.join(yamnet)}) on the held-out scenes' frames, "
          f"active above the {args.quantile} quantile")
    print(f"{'explanation':<22}{'units':>7}{'scored':>8}{'IoU':>8}{'AUPRC':>8}{'base rate':>11}")
    rng = np.random.default_rng(0)
    units = [f"{layer}#{i}" for layer in yamnet for i in range(run.stage("record")["layers"][layer])]
    table = [(source, explanations(run, source, layers=yamnet)) for source in ["names", *sources]]
    table.append(("random label", dict(zip(units, rng.choice(labels, size=len(units))))))
    for source, explained in table:
        m = mean_scores(score_frames(run, explained, quantile=args.quantile))
        cells = [f"{m[k]:.3f}" if m[k] is not None else "-" for k in ("iou", "auprc", "base_rate")]
        print(f"{source:<22}{m['units']:>7}{m['scored']:>8}{cells[0]:>8}{cells[1]:>8}{cells[2]:>11}")

    planted = {f"{PLANTED_FRAMES}#{k}": label for k, label in enumerate(labels)}
    truth = {row["unit"]: row for row in score_frames(run, planted, quantile=args.quantile)}
    names = {r.unit: r.name for r in run.read_units("names") if r.layer == PLANTED_FRAMES}
    moments = moments_rows(run, list(planted), k=1)
    print(f"\nplanted frame-level units ({len(planted)}, one per event label):")
    print(f"{'unit':<20}{'label':<14}{'IoU':>7}{'AUPRC':>8}  {'top moment':<24}{'name':<16}located named")
    located = named = 0
    for uid, label in planted.items():
        row, top = truth[uid], moments[uid][0]
        here = row["auprc"] is not None and row["auprc"] >= 0.9 and label in top["events"].split("+")
        right = names.get(uid) == label
        located += here
        named += right
        print(f"{uid:<20}{label:<14}{row['iou']:>7.3f}{row['auprc']:>8.3f}  "
              f"{top['clip'] + ' ' + format(top['time'], '.2f') + ' s':<24}{str(names.get(uid)):<16}"
              f"{'yes' if here else 'no':<8}{'yes' if right else 'no'}")
    print(f"located {located}/{len(planted)} ({100 * located / len(planted):.0f} %), "
          f"named {named}/{len(planted)} ({100 * named / len(planted):.0f} %)")
    print(d.report(units_per_layer=args.units_per_layer))


if __name__ == "__main__":
    main()
