"""Axis layouts of recorded outputs: which axis holds the clips, which the units.

A layout string names every axis of a module's output, in order, with one
capital letter each:

- ``B``: the clips of the batch;
- ``C``: the units (channels, features);
- any other letter (``T``, ``H``, ``W``, ``F``, ...): an axis pooled away as
  the pooling setting says (mean, max, or the first position);
- ``(BT)``: one axis holding every frame of every clip of the batch,
  clip-major, as a frame-wise model sees them (axis size B x T; the recorder
  reshapes it to (B, T) and pools T like any other axis).

``T`` is time: frame-level recording (:func:`frame_output`) keeps the
frames along ``T`` (or the ``T`` of a ``(BT)`` group) and pools the other
letters.

Examples: ``"BC"`` (a Linear on clip vectors), ``"BTC"`` (a transformer
block), ``"BCT"`` (a Conv1d), ``"BCHW"`` (a Conv2d), ``"TBC"`` (a
sequence-first attention), ``"(BT)C"`` (a frame-wise model's Linear).

Rules derived from module types (see :mod:`~audiodissect.record.unit_axis`)
use open layouts, whose rank is free: "clips on axis 0, units on axis 1"
or "clips on axis 0, units on the last axis".
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from .errors import AudioDissectError
from .pooling import check_pool, pool_units

if TYPE_CHECKING:  # torch only annotates here
    import torch

_TOKEN = re.compile(r"\(([A-Z]+)\)|([A-Z])")


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where the clips and the units lie in a module's output.

    Attributes
    ----------
    batch : int
        Axis holding the clips (negative counts from the end).
    unit : int
        Axis holding the units (negative counts from the end).
    ndim : int or None
        Rank the output must have; None for any rank.
    frames : bool
        The batch axis holds B x T frames, clip-major.
    text : str
        How the layout was given, for messages.
    time : int or None
        Axis holding time (the letter ``T`` on its own); None when the
        layout names none (a ``(BT)`` group holds its time in the batch axis).
    """

    batch: int
    unit: int
    ndim: int | None = None
    frames: bool = False
    text: str = ""
    time: int | None = None

    @property
    def has_time(self) -> bool:
        """Whether the layout says where time lies (a ``T`` axis or a ``(BT)`` group)."""
        return self.frames or self.time is not None


#: Clips on axis 0, units on axis 1 (convolutions, batch norm, pooling).
CHANNEL_FIRST = Layout(batch=0, unit=1, text="B C ...")
#: Clips on axis 0, units on the last axis (Linear, LayerNorm, batch-first attention).
CHANNEL_LAST = Layout(batch=0, unit=-1, text="B ... C")
#: Sequence-first: time on axis 0, clips on axis 1, units last (attention and RNNs without batch_first).
SEQUENCE_FIRST = Layout(batch=1, unit=-1, ndim=3, text="TBC")
#: A (B, U) output.
FLAT = Layout(batch=0, unit=1, ndim=2, text="BC")


def parse_layout(text: str, *, layer: str = "") -> Layout:
    """Parse a layout string such as ``"BTC"``, ``"BCHW"`` or ``"(BT)C"``.

    Parameters
    ----------
    text : str
        One capital letter per axis; ``B`` (clips) and ``C`` (units) exactly
        once each; ``B`` may open a parenthesised group, ``(BT)``, for an axis
        holding every frame of every clip, clip-major.
    layer : str, optional
        The layer pattern the layout is declared for (used in messages).

    Raises
    ------
    AudioDissectError
        For anything else.
    """
    where = f" for layer {layer!r}" if layer else ""
    hint = 'one capital letter per axis, B for the clips and C for the units, e.g. "BTC", "BCHW" or "(BT)C"'
    compact = str(text).replace(" ", "")
    tokens = list(_TOKEN.finditer(compact))
    if not compact or "".join(m.group(0) for m in tokens) != compact:
        raise AudioDissectError(f"cannot read the layout {text!r}{where}", hint=hint)
    batch = unit = time = None
    frames = False
    for axis, match in enumerate(tokens):
        group, letter = match.group(1), match.group(2)
        letters = group or letter
        if letter == "T" and time is None:
            time = axis
        if "C" in letters:
            if group or unit is not None:
                raise AudioDissectError(f"layout {text!r}{where} must name the unit axis C once, on its own",
                                        hint=hint)
            unit = axis
        if "B" in letters:
            if batch is not None or (group and not group.startswith("B")):
                raise AudioDissectError(f"layout {text!r}{where} must name the clip axis B once "
                                        "(first in a group such as (BT), clip-major)", hint=hint)
            batch, frames = axis, bool(group)
    if batch is None or unit is None:
        raise AudioDissectError(f"layout {text!r}{where} lacks the clip axis B or the unit axis C", hint=hint)
    return Layout(batch=batch, unit=unit, ndim=len(tokens), frames=frames, text=str(text),
                  time=None if frames else time)


def pool_output(output: torch.Tensor, layout: Layout, *, n_clips: int, pool: str, layer: str = "") -> torch.Tensor:
    """Pool a module output to one value per (clip, unit) as `layout` says.

    Parameters
    ----------
    output : torch.Tensor
        The module's output; its clip axis holds `n_clips` clips (or
        `n_clips` x T frames for a ``(BT)`` layout).
    layout : Layout
    n_clips : int
        Clips in the batch, B.
    pool : {"mean", "max", "first"}
    layer : str, optional
        For messages.

    Returns
    -------
    torch.Tensor, shape (B, U)
        A new tensor on `output`'s device.

    Raises
    ------
    AudioDissectError
        When the output's rank or clip axis does not fit the layout.
    """
    where = f"layer {layer!r}" if layer else "the output"
    shape = tuple(output.shape)
    if layout.ndim is not None and output.ndim != layout.ndim:
        raise AudioDissectError(f"{where} has output shape {shape}, which does not fit its layout "
                                f"{layout.text!r} ({layout.ndim} axes)",
                                hint="declare the layout that names every axis of this output")
    if output.ndim < 2:
        raise AudioDissectError(f"cannot find units in {where}'s output of shape {shape}")
    batch, unit = layout.batch % output.ndim, layout.unit % output.ndim
    if batch == unit:
        raise AudioDissectError(f"{where}: the unit axis cannot be the clip axis (layout {layout.text!r})")
    size = output.shape[batch]
    if layout.frames:
        if n_clips == 0 or size % n_clips:
            raise AudioDissectError(
                f"{where} has {size} rows on its frame axis for {n_clips} clips (layout {layout.text!r})",
                hint="a (BT) axis must hold the same number of frames for every clip, clip-major")
        output = output.unflatten(batch, (n_clips, size // n_clips))
        if unit > batch:
            unit += 1
    elif size != n_clips:
        raise AudioDissectError(f"{where} has {size} entries on its clip axis {batch} for {n_clips} clips "
                                f"(output shape {shape}, layout {layout.text!r})",
                                hint="declare this layer's layout, e.g. \"(BT)C\" for a frame-wise model, "
                                     "or give the module a channel_axis attribute")
    if batch:
        moved = output.movedim(batch, 0)
        unit = unit + 1 if unit < batch else unit
        output = moved
    return pool_units(output, axis=unit, pool=pool)


def frame_output(output: torch.Tensor, layout: Layout, *, n_clips: int, pool: str, layer: str = "") -> torch.Tensor:
    """A module output as frames: one value per (clip, frame, unit), every axis but clips, time and units pooled.

    Parameters
    ----------
    output : torch.Tensor
        The module's output, laid out as `layout` says; it must name time
        (a ``T`` axis, or a ``(BT)`` group).
    layout : Layout
    n_clips : int
        Clips in the batch, B.
    pool : {"mean", "max", "first"}
        Reduction of the other axes (e.g. a spectrogram's frequency bands).
    layer : str, optional
        For messages.

    Returns
    -------
    torch.Tensor, shape (B, T, U)
        A new tensor on `output`'s device.

    Raises
    ------
    AudioDissectError
        When the layout names no time axis, or the output does not fit it.
    """
    where = f"layer {layer!r}" if layer else "the output"
    if not layout.has_time:
        raise AudioDissectError(f"{where}'s layout {layout.text!r} names no time axis, so its frames cannot be "
                                "recorded", hint="declare its layout with T for time, e.g. \"BCTF\" for a "
                                                 "spectrogram CNN or \"BTC\" for a transformer block")
    shape = tuple(output.shape)
    if layout.ndim is not None and output.ndim != layout.ndim:
        raise AudioDissectError(f"{where} has output shape {shape}, which does not fit its layout "
                                f"{layout.text!r} ({layout.ndim} axes)",
                                hint="declare the layout that names every axis of this output")
    batch, unit = layout.batch % output.ndim, layout.unit % output.ndim
    if layout.frames:
        size = output.shape[batch]
        if n_clips == 0 or size % n_clips:
            raise AudioDissectError(
                f"{where} has {size} rows on its frame axis for {n_clips} clips (layout {layout.text!r})",
                hint="a (BT) axis must hold the same number of frames for every clip, clip-major")
        output = output.unflatten(batch, (n_clips, size // n_clips))
        time = batch + 1
        unit = unit + 1 if unit > batch else unit
    else:
        time = layout.time % output.ndim
        if output.shape[batch] != n_clips:
            raise AudioDissectError(f"{where} has {output.shape[batch]} entries on its clip axis {batch} for "
                                    f"{n_clips} clips (output shape {shape}, layout {layout.text!r})")
    others = [d for d in range(output.ndim) if d not in (batch, time, unit)]
    moved = output.permute(batch, time, *others, unit)  # (B, T, ..., U)
    if not others:
        return moved.clone()
    axes = tuple(range(2, 2 + len(others)))
    check_pool(pool)
    if pool == "mean":
        return moved.mean(dim=axes)
    if pool == "max":
        return moved.amax(dim=axes)
    return moved[(slice(None), slice(None)) + (0,) * len(others)].clone()
