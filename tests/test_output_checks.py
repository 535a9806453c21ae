"""Checks that name a user's mistake at recording: class names in the wrong order, outputs that are not logits, a
class count that does not match the output, and why no recorded layer is the output layer."""

import numpy as np
import pytest
import torch

import audiodissect as ad
from audiodissect.errors import AudioDissectError
from audiodissect.progress import silent
from audiodissect.record.checks import check_class_order, check_outputs
from audiodissect.probes.base import ClipInfo


class Loudness(torch.nn.Module):
    """(B, T) -> one feature, the clip's RMS, -> Linear(1, 2): logit 1 ("loud") grows with the level, logit 0
    ("quiet") falls."""

    def __init__(self, head_scale=1.0, softmax=False):
        super().__init__()
        self.feature = torch.nn.Identity()
        self.head = torch.nn.Linear(1, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[-10.0], [10.0]]))
            self.head.bias.copy_(torch.tensor([1.0, -1.0]))
        self.scale, self.softmax = head_scale, softmax

    def forward(self, x):
        out = self.head(self.feature(x.pow(2).mean(dim=1, keepdim=True).sqrt())) * self.scale
        return out.softmax(dim=1) if self.softmax else out


def loud_and_quiet(n=8, seed=0):
    rng = np.random.default_rng(seed)
    waves = [(0.02 if i % 2 == 0 else 0.5) * rng.standard_normal(4000).astype(np.float32) for i in range(2 * n)]
    labels = ["quiet" if i % 2 == 0 else "loud" for i in range(2 * n)]
    return ad.clips(waves, sample_rate=8000, labels=labels)


def dissect(tmp_path, model, *, class_names, name="run", **options):
    lines = []
    d = ad.Dissection(model, loud_and_quiet(), out=tmp_path / name, sample_rate=8000, hook=silent, echo=lines.append,
                      preprocess=lambda w: torch.from_numpy(np.stack(w)), class_names=class_names, **options)
    return d, lines


def test_class_names_in_the_wrong_order_are_named(tmp_path, caplog):
    d, lines = dissect(tmp_path, Loudness(), class_names=["loud", "quiet"])  # the model's order is quiet, loud
    with caplog.at_level("WARNING", logger="audiodissect"):
        d.record(["feature", "head"])
    checks = d.run_dir.stage("record")["output_checks"]
    assert [c["code"] for c in checks] == ["below_chance"]
    assert "accuracy on the" in checks[0]["message"] and "below chance (0.500 for 2 classes)" in checks[0]["message"]
    assert "'quiet' clips mostly as 'loud'" in checks[0]["message"] and "logit order" in checks[0]["hint"]
    assert any("below chance" in r.message for r in caplog.records)
    assert any(line.startswith("warning: the model's accuracy") for line in lines)
    right, _ = dissect(tmp_path, Loudness(), class_names=["quiet", "loud"], name="right")
    right.record(["feature", "head"])
    assert right.run_dir.stage("record")["output_checks"] == []


def test_outputs_that_are_not_logits_are_named(tmp_path):
    d, lines = dissect(tmp_path, Loudness(softmax=True), class_names=["quiet", "loud"])
    d.record(["feature", "head"])
    section = d.run_dir.stage("record")
    assert [c["code"] for c in section["output_checks"]] == ["probabilities"]
    assert "look like probabilities" in section["output_checks"][0]["message"]
    assert "before the softmax" in section["output_checks"][0]["hint"]
    # the head is recorded, but its activations are not the (softmaxed) outputs: no output layer, and why
    assert section["output_layer"] is None and "'head' (differs by up to" in section["output_layer_note"]
    assert any(line.startswith("no output layer: ") for line in lines)
    from audiodissect.scoring.last_layer import write_last_layer

    with pytest.raises(AudioDissectError, match="differs by up to"):
        write_last_layer(d.run_dir, embedder=None)

    rng = np.random.default_rng(1)
    unit = rng.standard_normal((20, 16))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    assert [f.code for f in check_outputs(unit, None)] == ["unit_norm", "no_class_names"]
    assert [f.code for f in check_outputs(1 / (1 + np.exp(-rng.standard_normal((20, 3)))), ["a", "b", "c"])] == \
        ["sigmoid"]
    assert check_outputs(rng.standard_normal((20, 3)), ["a", "b", "c"]) == []


def test_a_class_count_that_does_not_match_the_output_is_an_error(tmp_path):
    d, _ = dissect(tmp_path, Loudness(), class_names=["quiet", "loud", "silent"])
    with pytest.raises(AudioDissectError, match="gives 2 values per clip, but the model has 3 class names") as err:
        d.record(["head"])
    assert "embedding" in err.value.hint


def test_why_no_layer_is_the_output_layer(tmp_path):
    d, lines = dissect(tmp_path, Loudness(), class_names=["quiet", "loud"])
    d.record(["feature"])  # the head is not recorded
    note = d.run_dir.stage("record")["output_layer_note"]
    assert note.startswith("no recorded layer has 2 units") and "e.g. 'head'" in note
    named, _ = dissect(tmp_path, Loudness(head_scale=2.0), class_names=["quiet", "loud"], name="scaled")
    named.record(["feature", "head"], output_layer="head")  # named by the user: no note
    assert named.run_dir.stage("record")["output_layer"] == "head"
    assert named.run_dir.stage("record")["output_layer_note"] is None


def test_class_order_check_needs_enough_labelled_clips_and_more_than_bad_luck():
    clips = [ClipInfo(id=str(i), label="a" if i % 2 else "b", split="heldout") for i in range(4)]
    logits = np.array([[1.0, 0.0], [0.0, 1.0]] * 2)
    assert check_class_order(logits, clips, ["a", "b"]) is None  # 4 clips: too few to say
    # 17 classes, 21 clips, none right: chance alone gives that often (p = 0.28), so nothing is said ...
    names = [f"c{k}" for k in range(17)]
    clips = [ClipInfo(id=str(i), label=names[i % 17], split="heldout") for i in range(21)]
    wrong = np.eye(17)[[(i + 1) % 17 for i in range(21)]]
    assert check_class_order(wrong, clips, names) is None
    # ... but not with 120 clips (p < 0.001)
    clips = [ClipInfo(id=str(i), label=names[i % 17], split="heldout") for i in range(120)]
    finding = check_class_order(np.eye(17)[[(i + 1) % 17 for i in range(120)]], clips, names)
    assert finding is not None and "below chance (0.059 for 17 classes)" in finding.message


def test_dissection_takes_output_layout_and_min_samples(tmp_path):
    """As from_module does: frame-wise class scores averaged into clip logits, short clips padded."""
    frames = 160
    net = torch.nn.Sequential(torch.nn.Linear(frames, 2))

    def cut(waves):  # B clips of one length -> (B * T, 160) frames, clip-major
        clips = torch.from_numpy(np.stack(waves))
        return clips.unfold(1, frames, frames).reshape(-1, frames)

    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(1600 if i % 3 else 480).astype(np.float32) for i in range(12)]
    probe = ad.clips(waves, sample_rate=8000, labels=["a", "b"] * 6)
    d = ad.Dissection(net, probe, out=tmp_path / "run", sample_rate=8000, preprocess=cut, hook=silent,
                      layouts={"0": "(BT)C"}, output_layout="(BT)C", min_samples=800, class_names=["a", "b"])
    acts = d.record(["0"])
    section = d.run_dir.stage("record")
    assert section["padded_clips"] == 4 and section["min_samples"] == 800
    assert acts.output_layer == "0" and acts.logits().shape == (12, 2)
    np.testing.assert_allclose(acts["0"], acts.logits(), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        expected = net(cut([waves[1]])).mean(dim=0).numpy()
    np.testing.assert_allclose(acts.logits()[1], expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(AudioDissectError, match="min_samples must be a positive whole number"):
        ad.Dissection(net, probe, out=tmp_path / "bad", sample_rate=8000, preprocess=cut, min_samples=0)
    with pytest.raises(AudioDissectError, match="output_layout must be a layout string"):
        ad.Dissection(net, probe, out=tmp_path / "bad", sample_rate=8000, preprocess=cut, output_layout=3)
