"""Forward hooks that record one number per (clip, unit), in one context manager.

A unit is one output channel of a hooked module. Each hook pools its module's
output over every axis except the batch axis (axis 0, the clips) and the
channel axis, and writes the result into a preallocated (N, U) float32 array.

How the channel axis is found, in this order:

1. ``module.channel_axis`` when the module defines that attribute;
2. axis 1 for convolution and batch-norm modules, whose outputs are
   (batch, channels, ...);
3. otherwise the last axis, as for Linear layers, layer norms and transformer
   blocks, whose outputs are (batch, ..., features).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from .errors import AudioDissectError

POOLS = ("mean", "max", "first")

_CHANNEL_FIRST = (
    torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d,
    torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d,
    torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d,
)


def channel_axis(module: torch.nn.Module, output: torch.Tensor) -> int:
    """The axis of `output` that indexes `module`'s units (see the module docstring)."""
    axis = getattr(module, "channel_axis", None)
    if axis is not None:
        return int(axis) % output.ndim
    if isinstance(module, _CHANNEL_FIRST) and output.ndim > 2:
        return 1
    return output.ndim - 1


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
    others = tuple(d for d in range(1, output.ndim) if d != axis)
    if not others:  # a copy: a later in-place op (ReLU(inplace=True)) must not change it
        return output.clone()
    if pool == "mean":  # reduce in place of the layout: no transposed copy
        return output.mean(dim=others)
    if pool == "max":
        return output.amax(dim=others)
    if pool == "first":
        index = tuple(slice(None) if d in (0, axis) else 0 for d in range(output.ndim))
        return output[index].clone()
    raise AudioDissectError(f"unknown pooling {pool!r}", hint="choose one of " + ", ".join(POOLS))


def _first_tensor(output: object) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            found = _first_tensor(item)
            if found is not None:
                return found
    last = getattr(output, "last_hidden_state", None)
    return last if isinstance(last, torch.Tensor) else None


class ActivationRecorder:
    """Collects pooled outputs of hooked layers into (n_rows, U) float32 arrays.

    Before each forward pass, set :attr:`rows` to the row indices (B,) of the
    batch's clips. Each hook pools its output where it lies (on the model's
    device) and keeps the (B, U) result; the results of one pass are copied
    to the host together, in one transfer, and written into their rows when
    the next batch's rows are set or :attr:`arrays` is read.
    """

    def __init__(self, layers: Sequence[str], *, n_rows: int, pool: str):
        if pool not in POOLS:
            raise AudioDissectError(f"unknown pooling {pool!r}", hint="choose one of " + ", ".join(POOLS))
        self.layers = list(layers)
        self.n_rows = int(n_rows)
        self.pool = pool
        self._rows: np.ndarray | None = None
        self._arrays: dict[str, np.ndarray] = {}
        self._pending: dict[str, torch.Tensor] = {}
        self.fired: set[str] = set()

    @property
    def rows(self) -> np.ndarray | None:
        """Row indices (B,) of the current batch's clips."""
        return self._rows

    @rows.setter
    def rows(self, rows: Sequence[int] | np.ndarray | None) -> None:
        self.flush()
        self._rows = None if rows is None else np.asarray(rows, dtype=np.int64)

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """{layer: (n_rows, U) float32}, with every finished pass written."""
        self.flush()
        return self._arrays

    def flush(self) -> None:
        """Write the pooled outputs of the last pass into their rows (one device-to-host copy)."""
        if not self._pending:
            return
        names = list(self._pending)
        pooled = [self._pending[name] for name in names]
        self._pending = {}
        if len({(t.device, t.dtype) for t in pooled}) == 1:
            host = torch.cat(pooled, dim=1).float().cpu().numpy() if len(pooled) > 1 else \
                pooled[0].float().cpu().numpy()
            widths = np.cumsum([t.shape[1] for t in pooled])[:-1]
            parts = np.split(host, widths, axis=1)
        else:
            parts = [t.float().cpu().numpy() for t in pooled]
        for name, part in zip(names, parts):
            array = self._arrays.get(name)
            if array is None:
                array = np.zeros((self.n_rows, part.shape[1]), dtype=np.float32)
                self._arrays[name] = array
            array[self._rows] = part

    def hook(self, name: str):
        def fn(module: torch.nn.Module, inputs: object, output: object) -> None:
            tensor = _first_tensor(output)
            if tensor is None:
                raise AudioDissectError(f"layer {name!r} returned no tensor to record")
            if self._rows is None:
                raise RuntimeError("set recorder.rows before each forward pass")
            pooled = pool_units(tensor.detach(), axis=channel_axis(module, tensor), pool=self.pool)
            if pooled.shape[0] != len(self._rows):
                raise AudioDissectError(
                    f"layer {name!r} output has batch {pooled.shape[0]} for {len(self._rows)} clips",
                    hint="the clip batch must be axis 0 of every recorded output")
            if name in self._pending:  # the layer ran twice in one pass: the last output counts
                del self._pending[name]
            self._pending[name] = pooled
            self.fired.add(name)

        return fn


@contextlib.contextmanager
def recording(model: torch.nn.Module, layers: Sequence[str], *, n_rows: int,
              pool: str = "mean") -> Iterator[ActivationRecorder]:
    """Register recording hooks on `layers` of `model`; remove them on exit.

    Parameters
    ----------
    model : torch.nn.Module
    layers : sequence of str
        Exact module paths (resolve patterns first with
        :func:`audiodissect.layers.resolve_layers`).
    n_rows : int
        Number of clips N; arrays are (N, U).
    pool : {"mean", "max", "first"}

    Yields
    ------
    ActivationRecorder
        Its ``arrays`` map each layer to its (N, U) float32 array.

    Raises
    ------
    AudioDissectError
        On exit without error, if a hook never fired (the layer is not on the
        forward path).
    """
    modules = dict(model.named_modules())
    recorder = ActivationRecorder(layers, n_rows=n_rows, pool=pool)
    handles = []
    try:
        for name in layers:
            if name not in modules:
                raise AudioDissectError(f"no module path {name!r} in the model")
            handles.append(modules[name].register_forward_hook(recorder.hook(name)))
        yield recorder
    finally:
        for handle in handles:
            handle.remove()
    recorder.flush()
    silent = [name for name in layers if name not in recorder.fired]
    if silent:
        raise AudioDissectError(f"these layers never ran in the forward pass: {', '.join(silent)}",
                                hint="choose modules that the model's forward actually calls")
