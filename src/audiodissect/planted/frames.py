"""Planted frame-level units: one unit per event label that fires only while an event of that label sounds.

The layer ``planted_frames`` cuts each clip's waveform into frames of
``hop`` seconds and, for unit k, outputs ``gain`` on the frames whose centre
lies inside an event labelled ``concepts[k]`` of that clip, and 0 elsewhere
(``gain`` is drawn per event from [0.5, 1], seeded, so the unit is not a bare
indicator). The layer sees waveforms only: it finds a clip's events by the
digest of its samples (:func:`~audiodissect.planted.hard.clip_digest`), so a
clip must reach it whole (record with windows longer than the clips); a
clip it does not know gives zeros.

Its output is (B, T, K) with the layout ``"BTC"`` and the frame timing
(hop, hop): recorded frame by frame, every frame's span is exact, and a
unit's true concept and true frames are known, the ground truth that
:mod:`audiodissect.scoring.frames` scores dissection against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import AudioDissectError
from ..frames import FrameTiming
from ..targets.base import Target
from .hard import clip_digest

#: Module path of the planted frame layer inside the wrapped model.
PLANTED_FRAMES = "planted_frames"


class EventUnits(torch.nn.Module):
    """``forward(waveform (B, S), lengths (B,)) -> (B, S // hop, K)``: per frame, each label's event gain.

    Parameters
    ----------
    events : dict of str to list of (onset, offset, label index, gain)
        By clip digest.
    concepts : sequence of str, shape (K,)
    hop : int
        Samples per frame.
    sample_rate : int
    """

    def __init__(self, events: dict[str, list[tuple[float, float, int, float]]], concepts: Sequence[str], *,
                 hop: int, sample_rate: int):
        super().__init__()
        self.events = events
        self.concepts = list(concepts)
        self.hop = int(hop)
        self.sample_rate = int(sample_rate)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        waves = waveform.detach().cpu().numpy()
        n_frames = waveform.shape[1] // self.hop
        step = self.hop / self.sample_rate
        centre = FrameTiming(hop=step, window=step).spans(n_frames).mean(axis=1)           # (T,) as the spans are
        out = np.zeros((len(waves), n_frames, len(self.concepts)), dtype=np.float32)
        for b, (wave, n) in enumerate(zip(waves, lengths.tolist())):
            found = self.events.get(clip_digest(wave[:int(n)]))
            if not found:
                continue
            onset, offset, label, gain = (np.array(v) for v in zip(*found))                 # (E,) each
            inside = (onset[None, :] <= centre[:, None]) & (centre[:, None] < offset[None, :])  # (T, E)
            frame, event = np.nonzero(inside)
            np.maximum.at(out[b], (frame, label[event].astype(np.int64)), gain[event].astype(np.float32))
        return torch.from_numpy(out).to(waveform.device)


class PlantedFramesModel(torch.nn.Module):
    """A target model plus ``planted_frames`` run on the side; ``forward`` returns the model's logits unchanged."""

    def __init__(self, model: torch.nn.Module, planted: EventUnits, model_forward: Any):
        super().__init__()
        self.model = model
        self.planted_frames = planted
        self._model_forward = model_forward

    def forward(self, model_inputs: Any, waveform: torch.Tensor, lengths: torch.Tensor) -> Any:
        out = self._model_forward(self.model, model_inputs)
        self.planted_frames(waveform, lengths)
        return out


def plant_frame_units(target: Target, probe: Any, *, concepts: Sequence[str] | None = None, hop: float = 0.01,
                      seed: int = 0) -> Target:
    """A copy of `target` with a ``planted_frames`` layer: one unit per concept, firing during its events.

    Parameters
    ----------
    target : Target
        Any target; its layers keep their paths under ``model.``, with their
        layouts and frame timings.
    probe : ProbeSet
        A probing set with timed events (scenes, or a set given an events file).
    concepts : sequence of str, optional
        The units' concepts, in unit order (default: the events' labels, sorted).
    hop : float
        Seconds per frame.
    seed : int
        Draws each event's gain.

    Returns
    -------
    Target
        Default layers ``["planted_frames"]``; its preprocess adds the padded
        waveforms and their lengths to the wrapped model's inputs.

    Raises
    ------
    AudioDissectError
        When the probing set has no events.
    """
    events = list(getattr(probe, "events", ()) or ())
    if not events:
        raise AudioDissectError(f"the probing set {probe.name!r} has no timed events to plant units on",
                                hint="use the scenes probing set, or give an events CSV file (events=...)")
    concepts = list(concepts) if concepts is not None else sorted({e.label for e in events})
    column = {c: k for k, c in enumerate(concepts)}
    rng = np.random.default_rng(seed)
    by_clip: dict[str, list[tuple[float, float, int, float]]] = {}
    for e in events:
        if e.label in column:
            by_clip.setdefault(e.clip, []).append((e.onset, e.offset, column[e.label], float(rng.uniform(0.5, 1.0))))
    rate = target.sample_rate
    by_digest = {clip_digest(probe.audio(i, sample_rate=rate)): by_clip[c.id]
                 for i, c in enumerate(probe.clips) if c.id in by_clip}
    samples = max(1, int(round(hop * rate)))
    planted = EventUnits(by_digest, concepts, hop=samples, sample_rate=rate)
    module = PlantedFramesModel(target.module, planted, target.forward).eval()
    inner = target.preprocess

    def preprocess(waveforms: Sequence[np.ndarray]) -> dict[str, Any]:
        lengths = [len(w) for w in waveforms]
        batch = np.zeros((len(waveforms), max(lengths, default=0)), dtype=np.float32)
        for i, w in enumerate(waveforms):
            batch[i, :len(w)] = w
        return {"model_inputs": inner(waveforms), "waveform": torch.from_numpy(batch),
                "lengths": torch.tensor(lengths, dtype=torch.int64)}

    step = samples / rate
    return Target(name=f"planted-frames:{target.name}", module=module, sample_rate=rate, preprocess=preprocess,
                  class_names=target.class_names, default_layers=[PLANTED_FRAMES],
                  layouts={**{f"model.{k}": v for k, v in target.layouts.items()}, PLANTED_FRAMES: "BTC"},
                  frame_timings={**{f"model.{k}": v for k, v in target.frame_timings.items()},
                                 PLANTED_FRAMES: FrameTiming(hop=step, window=step)},
                  min_samples=target.min_samples)
