"""Frame-level scoring, planted frame-level units, moments, and the report's moments section, on tiny scenes."""

from __future__ import annotations

import numpy as np
import pytest

from audiodissect import Dissection
from audiodissect.analyses.moments import layer_moments, snippet_bounds
from audiodissect.errors import AudioDissectError
from audiodissect.frames import FrameActivations
from audiodissect.planted.frames import PLANTED_FRAMES, plant_frame_units
from audiodissect.probes import load_probe
from audiodissect.probes.events import frame_truth
from audiodissect.progress import silent
from audiodissect.scoring.frames import frame_iou_auprc, score_frames


def test_iou_and_auprc_of_hand_made_frames():
    truth = np.array([0] * 8 + [1] * 2, dtype=bool)
    values = np.stack([truth.astype(float), np.ones(10), 1.0 - truth, np.r_[np.zeros(8), [2.0, 0.5]]], axis=1)
    iou, auprc, threshold = frame_iou_auprc(values, np.repeat(truth[:, None], 4, axis=1), quantile=0.8)
    np.testing.assert_allclose(threshold[:2], [0.2, 1.0])
    np.testing.assert_allclose(iou, [1.0, 0.0, 0.0, 1.0])            # a constant unit has no active frames
    np.testing.assert_allclose(auprc, [1.0, 0.2, 0.2, 1.0])  # tied values count as one threshold
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    rough, hits = rng.integers(0, 5, size=(200, 6)).astype(float), rng.random((200, 6)) < 0.3   # many ties
    np.testing.assert_allclose(frame_iou_auprc(rough, hits)[1],
                               [sklearn.average_precision_score(hits[:, j], rough[:, j]) for j in range(6)])
    missing, _, _ = frame_iou_auprc(values[:, :1], np.zeros((10, 1), dtype=bool))
    assert np.isnan(missing[0])
    with pytest.raises(AudioDissectError, match="quantile"):
        frame_iou_auprc(values, values > 0, quantile=1.0)


def test_moments_are_each_units_peak_frames_in_its_best_clips():
    values = np.array([[0, 5], [3, 1], [1, 0],      # clip 0: unit 0 peaks at frame 1 (3), unit 1 at frame 0 (5)
                       [2, 2], [4, 2],              # clip 1: peaks at frame 1 (4) and frame 0 (2, first of a tie)
                       [9, 9]], dtype=np.float32)   # clip 2: not among the rows searched
    frames = FrameActivations(values=values, offsets=np.array([0, 3, 5, 6]),
                              spans=np.array([[0.0, 0.1], [0.1, 0.2], [0.2, 0.3], [0, .5], [.5, 1], [0, 1]]))
    found = layer_moments(frames, [0, 1], rows=np.array([0, 1]), k=3)
    np.testing.assert_array_equal(found.rows, [[1, 0, -1], [0, 1, -1]])
    np.testing.assert_array_equal(found.frames[:, :2], [[1, 1], [0, 0]])
    np.testing.assert_array_equal(found.values[:, :2], [[4, 3], [5, 2]])
    start, stop = snippet_bounds(np.array([0.1, 1.9, 1.0]), np.array([2.0, 2.0, 0.5]), 1.0)
    np.testing.assert_allclose(start, [0.0, 1.0, 0.0])
    np.testing.assert_allclose(stop, [1.0, 2.0, 0.5])


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    import os

    from stage_fixtures import make_target

    root = tmp_path_factory.mktemp("frames")
    old = os.environ.get("AUDIODISSECT_CACHE")
    os.environ["AUDIODISSECT_CACHE"] = str(root / "cache")
    try:
        probe = load_probe("scenes", n_clips=12, duration=2.0)
        target = plant_frame_units(make_target(), probe)
        d = Dissection(target, probe, out=root / "run", hook=silent, layouts={"model.conv": "BCT"})
        d.record(["model.conv", PLANTED_FRAMES], frames="*")
        yield d, probe
    finally:
        if old is None:
            os.environ.pop("AUDIODISSECT_CACHE", None)
        else:
            os.environ["AUDIODISSECT_CACHE"] = old


def test_planted_frame_units_fire_exactly_during_their_events(planted_run):
    d, probe = planted_run
    run = d.run_dir
    labels = sorted({e.label for e in probe.events})
    frames = run.frames(PLANTED_FRAMES)
    assert frames.values.shape[1] == len(labels) and run.unnamed_files() == []
    truth = frame_truth(run.events(), [c.id for c in run.clips()], frames.offsets, frames.spans, labels)
    np.testing.assert_array_equal(np.asarray(frames.values) > 0, truth)
    assert truth.any(axis=0).all()
    np.testing.assert_allclose(frames.spans[:2], [[0.0, 0.01], [0.01, 0.02]])
    rows = score_frames(run, {f"{PLANTED_FRAMES}#{k}": label for k, label in enumerate(labels)}, split="all")
    assert [r["auprc"] for r in rows] == [1.0] * len(labels) and all(r["iou"] > 0 for r in rows)
    wrong = score_frames(run, {f"{PLANTED_FRAMES}#0": labels[1]}, split="all")[0]
    assert wrong["auprc"] < 0.5
    assert score_frames(run, {f"{PLANTED_FRAMES}#0": "bright"}, split="all")[0]["iou"] is None


def test_moments_of_a_planted_unit_lie_inside_its_events(planted_run):
    d, probe = planted_run
    labels = sorted({e.label for e in probe.events})
    table = d.moments(f"{PLANTED_FRAMES}#0", k=3, snippet_seconds=0.5)
    assert list(table.columns) == ["unit", "rank", "clip", "label", "frame", "start", "end", "time", "activation",
                                   "snippet_start", "snippet_end", "events", "audio"]
    assert table["rank"].tolist() == [1, 2, 3] and table["activation"].is_monotonic_decreasing
    assert all(labels[0] in e.split("+") for e in table["events"])
    assert all(d.run_dir.clips()[[c.id for c in d.run_dir.clips()].index(c)].split == "probe" for c in table["clip"])
    assert all(len(a) == 8000 for a in table["audio"])                 # 0.5 s at 16 kHz
    np.testing.assert_allclose(table["snippet_end"] - table["snippet_start"], 0.5)
    with pytest.raises(AudioDissectError, match="not recorded frame by frame"):
        d.moments("model.classifier#0")


def test_the_report_plays_moments_and_draws_activation_curves(planted_run):
    d, _ = planted_run
    index = d.report(units_per_layer=2)
    page = next(p for p in (index.parent / "units").iterdir() if "planted_frames" in p.name)
    html = page.read_text()
    assert "<h2>Moments</h2>" in html and html.count('class="clip moment"') == 3
    media = index.parent / "media"
    for ref in __import__("re").findall(r'src="\.\./media/([^"]+)"', html):
        assert (media / ref).is_file() and (media / ref).stat().st_size > 100
    assert d.run_dir.unnamed_files() == []


def test_the_moments_page_renders_in_chromium(planted_run, tmp_path):
    from test_report_browser import CHROMIUM, chromium, console_lines

    if not CHROMIUM.exists():
        pytest.skip("needs a headless Chromium at /usr/bin/chromium")
    d, _ = planted_run
    index = d.report(units_per_layer=2)
    page = next(p for p in (index.parent / "units").iterdir() if "planted_frames" in p.name)
    dom = chromium(page.as_uri(), tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0 and not console_lines(dom.stderr)
    assert dom.stdout.count('class="clip moment"') == 3
    shot = index.parent / "screenshot-moments.png"
    done = chromium(page.as_uri(), tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1100,1600")
    assert done.returncode == 0 and shot.stat().st_size > 10_000
    shot.unlink()                                     # not a file of the run
