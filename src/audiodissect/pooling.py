"""Pooling a (B, ..., U, ...) tensor to one value per (clip, unit)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import AudioDissectError

if TYPE_CHECKING:  # torch only annotates here
    import torch

POOLS = ("mean", "max", "first")


def check_pool(pool: str) -> str:
    """`pool` itself when it is one of :data:`POOLS`; an :class:`AudioDissectError` otherwise."""
    if pool not in POOLS:
        raise AudioDissectError(f"unknown pooling {pool!r}", hint="choose one of " + ", ".join(POOLS))
    return pool


def pool_units(output: torch.Tensor, *, axis: int, pool: str) -> torch.Tensor:
    """Reduce a module output to one value per unit and clip.

    Parameters
    ----------
    output : torch.Tensor, shape (B, ...)
        Batch first; one axis (`axis`) holds the U units.
    axis : int
        The channel axis (not 0).
    pool : {"mean", "max", "first"}
        Reduction over every other axis: mean, max, or the first position
        (token 0 / frame 0, what the reference code calls "avg").

    Returns
    -------
    torch.Tensor, shape (B, U)
        A new tensor on `output`'s device (never a view of `output`).
    """
    if output.ndim < 2:
        raise AudioDissectError(f"cannot find units in an output of shape {tuple(output.shape)}")
    axis = axis % output.ndim
    if axis == 0:
        raise AudioDissectError("the channel axis cannot be the batch axis")
    check_pool(pool)
    others = tuple(d for d in range(1, output.ndim) if d != axis)
    if not others:  # a copy: a later in-place op (ReLU(inplace=True)) must not change it
        return output.clone()
    if pool == "mean":  # reduce in place of the layout: no transposed copy
        return output.mean(dim=others)
    if pool == "max":
        return output.amax(dim=others)
    index = tuple(slice(None) if d in (0, axis) else 0 for d in range(output.ndim))
    return output[index].clone()
