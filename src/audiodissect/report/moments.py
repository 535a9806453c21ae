"""The moments section of a unit page: snippets to play and the unit's activation drawn over each clip.

For a unit whose layer was recorded frame by frame, each of its top moments
(:mod:`audiodissect.analyses.moments`) gets a WAV snippet and a PNG: the
clip's mel spectrogram with the unit's activation over time on top (one
point per frame, at the frame's centre), the snippet shaded, and the clip's
timed events, when the run has them, as labelled bars.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup

from ..cache import atomic_path
from ..probes.base import ProbeSet
from ..rundir import RunDir, parse_unit_id
from .media import log_mel, slug, write_audio
from .templating import render

log = logging.getLogger("audiodissect")


def write_moment_figure(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, *, times: np.ndarray,
                        values: np.ndarray, snippet: tuple[float, float], events: list[Any], unit: str) -> None:
    """A PNG of a clip's spectrogram with a unit's activation curve, a shaded snippet and the clip's events.

    Parameters
    ----------
    audio : np.ndarray, shape (T,)
    times, values : np.ndarray, shape (F,)
        Each frame's centre (s) and the unit's activation there.
    snippet : (float, float)
        Start and end of the shaded snippet (s).
    events : list of Event
        The clip's events (drawn as bars with their labels).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    duration = audio.size / sample_rate
    mel = log_mel(audio, sample_rate, max_frames=400)
    low, high = np.percentile(mel, [5, 99.5])
    fig, ax = plt.subplots(figsize=(6.4, 2.4), dpi=100)
    try:
        ax.imshow(mel, aspect="auto", origin="lower", cmap="magma", extent=(0, duration, 0, 1), vmin=low,
                  vmax=max(high, low + 1e-3))
        ax.set_yticks([])
        ax.set_xlabel("seconds")
        ax.axvspan(snippet[0], snippet[1], color="white", alpha=0.25, lw=0)
        for e in events:
            ax.plot([e.onset, min(e.offset, duration)], [0.95, 0.95], color="#38bdf8", lw=4, solid_capstyle="butt")
            ax.text(e.onset, 0.86, e.label, color="white", fontsize=7, va="top")
        curve = ax.twinx()
        curve.plot(times, values, color="#a3e635", lw=1.6)
        curve.set_ylabel("activation", fontsize=8)
        curve.tick_params(labelsize=7)
        ax.set_xlim(0, duration)
        ax.set_title(unit, fontsize=8)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


def moment_sections(run: RunDir, units: list[str], media_dir: Path, probe: ProbeSet | None, *, k: int,
                    snippet_seconds: float, sample_rate: int) -> dict[str, Markup]:
    """The moments section of each unit of `units` whose layer has frames; writes its media into `media_dir`.

    Returns
    -------
    dict of str to Markup
        ``{unit: html}`` rendered by ``moments.html.j2``; units of layers without frames are left out.
    """
    from ..analyses.moments import moments_rows

    framed = set(run.frame_layers()) if run.has_stage("record") else set()
    wanted = [u for u in units if parse_unit_id(u)[0] in framed]
    if not wanted:
        return {}
    rows = moments_rows(run, wanted, k=k, snippet_seconds=snippet_seconds)
    positions = {c.id: i for i, c in enumerate(probe.clips)} if probe is not None else {}
    events: dict[str, list[Any]] = {}
    for e in run.events():
        events.setdefault(e.clip, []).append(e)
    layer_frames = {layer: run.frames(layer) for layer in {parse_unit_id(u)[0] for u in wanted}}
    clip_index = {c.id: i for i, c in enumerate(run.clips())}
    out = {}
    for uid in wanted:
        layer, index = parse_unit_id(uid)
        frames = layer_frames[layer]
        cards = []
        for m in rows[uid]:
            media = None
            if m["clip"] in positions:
                name = slug(f"{uid}@{m['clip']}@{m['frame']}")
                wav, png = media_dir / f"{name}.wav", media_dir / f"{name}.png"
                try:
                    if not (wav.exists() and png.exists()):
                        audio = probe.audio(positions[m["clip"]], sample_rate=sample_rate)
                        a, b = int(round(m["snippet_start"] * sample_rate)), int(round(m["snippet_end"] * sample_rate))
                        write_audio(wav, audio[a:b], sample_rate)
                        values, spans = frames.clip(clip_index[m["clip"]])
                        write_moment_figure(png, audio, sample_rate, times=spans.mean(axis=1),
                                            values=values[:, index], snippet=(m["snippet_start"], m["snippet_end"]),
                                            events=events.get(m["clip"], []), unit=f"{uid} on {m['clip']}")
                    media = {"wav": wav.name, "png": png.name}
                except Exception as exc:  # one unreadable clip must not sink the page
                    log.warning("no moment media for %s on %s: %s", uid, m["clip"], exc)
            cards.append({**m, "media": media})
        out[uid] = render("moments.html.j2", unit=uid, cards=cards)
    return out
