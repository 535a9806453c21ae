"""Descriptions are keyed by the clips' audio alone: the same audio under other labels is not described again."""

import numpy as np
import torch

import audiodissect as ad
import backends
from audiodissect.progress import silent


class Counting:
    """A captioner that says how loud each clip is, and counts the clips it was asked about."""

    name = "counting"

    def __init__(self):
        self.asked = 0

    def describe(self, clips):
        self.asked += len(clips)
        return [f"A sound at level {float(np.abs(c.audio).max()):.2f}." for c in clips]


def test_relabelled_clips_reuse_their_descriptions(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    counting = Counting()
    spec = backends.captioner("counting", lambda probe, **options: counting)
    rng = np.random.default_rng(0)
    waves = [0.1 * (i + 1) * rng.standard_normal(8000).astype(np.float32) for i in range(6)]
    first = ad.clips(waves, sample_rate=16000, labels=["dog", "cat"] * 3)
    relabelled = ad.clips(waves, sample_rate=16000, labels=["cat", "dog"] * 3, heldout_fraction=0.4)
    other = ad.clips([w * 0.5 for w in waves], sample_rate=16000, labels=["dog", "cat"] * 3)
    assert first.content_key() != relabelled.content_key() and first.audio_key() == relabelled.audio_key()
    assert first.audio_key() != other.audio_key()

    def describe(probe, out):
        model = torch.nn.Sequential(torch.nn.Linear(8000, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        d = ad.Dissection(model, probe, out=tmp_path / out, hook=silent, sample_rate=16000,
                          preprocess=lambda w: torch.from_numpy(np.stack(w)))
        d.record(["0", "2"])
        texts = list(d.describe(spec))
        return texts, d.run_dir.stage("describe")

    texts, section = describe(first, "a")
    assert counting.asked == 6 and section["n_described"] == 6
    again, section = describe(relabelled, "b")  # another run, the same audio under other labels and splits
    assert again == texts and counting.asked == 6
    assert section["n_cached"] == 6 and section["n_described"] == 0
    _, section = describe(other, "c")  # other audio: described
    assert counting.asked == 12 and section["n_described"] == 6
