"""Forward hooks that record one number per (clip, unit), in one context manager.

A unit is one output channel of a hooked module. Each hook finds the clip
axis and the unit axis of its module's output (a declared layout, the
module's ``channel_axis`` attribute or its type; see
:mod:`~audiodissect.record.unit_axis`), pools every other axis, and keeps the
(B, U) result for the batch's rows of a preallocated (N, U) float32 array.

A module that runs several times in one forward pass (a recurrent cell
called once per chunk, a block shared by two branches) is recorded over all
its calls, as if they were one sequence stacked along time: ``mean`` is the
mean over every call's positions, ``max`` the maximum over calls, ``first``
the first call's first position. :attr:`ActivationRecorder.calls` counts the
calls, so the caller can say so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch

from ..errors import AudioDissectError
from ..layers import check_scriptable
from ..layout import Layout, frame_output, pool_output
from ..pooling import POOLS, check_pool, pool_units
from .unit_axis import UnitAxes, channel_axis

_NO_TIME = Layout(batch=0, unit=1, text="(undeclared)")

__all__ = ["POOLS", "ActivationRecorder", "channel_axis", "pool_units", "recording"]


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

    Parameters
    ----------
    layers : sequence of str
    n_rows : int
    pool : {"mean", "max", "first"}
    axes : UnitAxes, optional
        Resolves each layer's layout; without it, a layer's units lie on the
        axis :func:`channel_axis` gives for its module alone.
    frames : mapping of str to bool, optional
        Layers recorded frame by frame ({layer: whether it must have a time
        axis}): their (T, U) frames per row are kept in :attr:`frames`
        instead of a pooled row. A layer whose layout names no time axis is
        an error when it must have one, else recorded pooled like the others.
    """

    def __init__(self, layers: Sequence[str], *, n_rows: int, pool: str, axes: UnitAxes | None = None,
                 frames: Mapping[str, bool] | None = None):
        self.pool = check_pool(pool)
        self.frame_layers = dict(frames or {})
        self._frames: dict[str, list[np.ndarray | None]] = {}
        self._pending_frames: dict[str, torch.Tensor] = {}
        self.layers = list(layers)
        self.n_rows = int(n_rows)
        self.axes = axes
        self._rows: np.ndarray | None = None
        self._arrays: dict[str, np.ndarray] = {}
        self._pending: dict[str, torch.Tensor] = {}
        self._positions: dict[str, int] = {}
        self._calls: dict[str, int] = {}
        self.fired: dict[str, int] = {}
        self.calls: dict[str, int] = {}

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

    @property
    def frames(self) -> dict[str, list[np.ndarray]]:
        """{layer: one (T_row, U) float32 array per row}, for the frame layers that had a time axis."""
        self.flush()
        missing = {name: [r for r, a in enumerate(rows) if a is None] for name, rows in self._frames.items()}
        for name, rows in missing.items():
            if rows:
                raise AudioDissectError(f"layer {name!r} recorded no frames for rows {rows[:5]}")
        return {name: list(rows) for name, rows in self._frames.items()}  # type: ignore[misc]

    @property
    def repeated(self) -> dict[str, int]:
        """Layers that ran more than once in some forward pass: {layer: most calls in one pass}."""
        return {name: n for name, n in self.calls.items() if n > 1}

    @property
    def forward_order(self) -> list[str]:
        """The layers that ran, in the order the forward pass first reached them."""
        return sorted(self.fired, key=self.fired.__getitem__)

    def flush(self) -> None:
        """Write the pooled outputs of the last pass into their rows (one device-to-host copy)."""
        for name, tensor in self._pending_frames.items():
            host = tensor.float().cpu().numpy()  # (B, T, U)
            rows = self._frames.setdefault(name, [None] * self.n_rows)
            for b, row in enumerate(self._rows):
                rows[int(row)] = host[b]
        self._pending_frames = {}
        if not self._pending:
            return
        names = list(self._pending)
        pooled = [self._pending[name] for name in names]
        self._pending, self._positions, self._calls = {}, {}, {}
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
            elif array.shape[1] != part.shape[1]:
                raise AudioDissectError(f"layer {name!r} gave {part.shape[1]} units in one batch and "
                                        f"{array.shape[1]} in another",
                                        hint="check the layer's declared layout: C must name a fixed-size axis")
            array[self._rows] = part

    def _pool(self, name: str, module: torch.nn.Module, tensor: torch.Tensor) -> torch.Tensor:
        n_clips = len(self._rows)
        if self.axes is None:
            pooled = pool_units(tensor, axis=channel_axis(module, tensor), pool=self.pool)
            if pooled.shape[0] != n_clips:
                raise AudioDissectError(
                    f"layer {name!r} output has batch {pooled.shape[0]} for {n_clips} clips",
                    hint="the clip batch must be axis 0 of every recorded output, or declare the layer's layout")
            return pooled
        return pool_output(tensor, self.axes.layout(name, tensor), n_clips=n_clips, pool=self.pool, layer=name)

    def _frames_of(self, name: str, tensor: torch.Tensor) -> bool:
        """Keep the (B, T, U) frames of a frame layer's output; False when its layout has no time (pool it)."""
        layout = self.axes.layout(name, tensor) if self.axes is not None else None
        if layout is None or not layout.has_time:
            if self.frame_layers[name]:
                frame_output(tensor, layout or _NO_TIME, n_clips=len(self._rows), pool=self.pool, layer=name)
            self.frame_layers.pop(name)
            return False
        if name in self._pending_frames:
            raise AudioDissectError(f"layer {name!r} runs several times in one forward pass, so its frames have "
                                    "no single time axis", hint="record its frames from a module that runs once")
        self._pending_frames[name] = frame_output(tensor, layout, n_clips=len(self._rows), pool=self.pool,
                                                  layer=name)
        self._calls[name] = self.calls[name] = 1
        self.fired.setdefault(name, len(self.fired))
        return True

    def _with_earlier(self, name: str, pooled: torch.Tensor, positions: int) -> torch.Tensor:
        """This call's pooled (B, U) values combined with the earlier calls' of the same pass."""
        earlier = self._pending[name]
        if earlier.shape != pooled.shape:
            raise AudioDissectError(f"layer {name!r} ran several times in one forward pass with different unit "
                                    f"counts ({earlier.shape[1]}, then {pooled.shape[1]})",
                                    hint="record a module whose calls give the same units, or one that runs once")
        if self.pool == "first":
            return earlier
        if self.pool == "max":
            return torch.maximum(earlier, pooled)
        seen = self._positions[name]
        return (earlier * seen + pooled * positions) / (seen + positions)

    def hook(self, name: str):
        def fn(module: torch.nn.Module, inputs: object, output: object) -> None:
            tensor = _first_tensor(output)
            if tensor is None:
                raise AudioDissectError(f"layer {name!r} returned no tensor to record")
            if self._rows is None:
                raise RuntimeError("set recorder.rows before each forward pass")
            if name in self.frame_layers and self._frames_of(name, tensor.detach()):
                return
            pooled = self._pool(name, module, tensor.detach())
            positions = tensor.numel() // max(1, pooled.numel())  # pooled values per (clip, unit)
            if name in self._pending:  # another call in the same pass: pooled with the earlier ones
                pooled = self._with_earlier(name, pooled, positions)
            self._pending[name] = pooled
            self._positions[name] = self._positions.get(name, 0) + positions
            self._calls[name] = self._calls.get(name, 0) + 1
            self.calls[name] = max(self.calls.get(name, 0), self._calls[name])
            self.fired.setdefault(name, len(self.fired))

        return fn


@contextlib.contextmanager
def recording(model: torch.nn.Module, layers: Sequence[str], *, n_rows: int, pool: str = "mean",
              layouts: Mapping[str, str] | None = None,
              frames: Mapping[str, bool] | None = None) -> Iterator[ActivationRecorder]:
    """Register recording hooks on `layers` of `model`; remove them on exit.

    Parameters
    ----------
    model : torch.nn.Module
    layers : sequence of str
        Exact module paths (resolve patterns first with
        :func:`audiodissect.layers.resolve_layers`).
    n_rows : int
        Number of rows N; arrays are (N, U).
    pool : {"mean", "max", "first"}
    layouts : mapping of str to str, optional
        Declared layouts by layer path or glob pattern, e.g. ``{"frontend.*": "BCT",
        "head": "(BT)C"}`` (see :mod:`~audiodissect.layout`).
    frames : mapping of str to bool, optional
        Layers whose frames are kept (see :class:`ActivationRecorder`).

    Yields
    ------
    ActivationRecorder
        Its ``arrays`` map each layer to its (N, U) float32 array; its
        ``forward_order`` lists the layers in the order the forward pass
        first reached them.

    Raises
    ------
    AudioDissectError
        For a TorchScript model, an unknown layer, a bad layout, or on exit
        without error, if a hook never fired (the layer is not on the forward
        path).
    """
    check_scriptable(model)
    axes = UnitAxes(model, layouts)
    recorder = ActivationRecorder(layers, n_rows=n_rows, pool=pool, axes=axes, frames=frames)
    handles = []
    try:
        for name in layers:
            if name not in axes.modules or not name:
                raise AudioDissectError(f"no module path {name!r} in the model")
            handles.append(axes.modules[name].register_forward_hook(recorder.hook(name)))
        yield recorder
    finally:
        for handle in handles:
            handle.remove()
    recorder.flush()
    silent = [name for name in layers if name not in recorder.fired]
    if silent:
        raise AudioDissectError(f"these layers never ran in the forward pass: {', '.join(silent)}",
                                hint="choose modules that the model's forward actually calls")
