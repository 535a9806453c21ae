"""Non-finite values in a recording: which clips (rows) and which units (columns) hold them.

A clip whose audio is not finite, or that drives the model to infinities or
NaN (a clip at amplitude 3e38 overflows any power spectrum), has non-finite
activations or logits in its row; such a clip is left out of the run, named,
and the rest of the run goes on. A unit that is non-finite on every clip
while the other units of its layer are finite there is the unit's fault, not
the clips': its column is set to zero and the unit is named. When every value
of a layer is non-finite the model itself is broken, and recording stops
with an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import AudioDissectError

#: The name of the logits among the recorded arrays, in messages.
LOGITS = "the logits"


def find_nonfinite(arrays: Mapping[str, np.ndarray]) -> tuple[dict[int, str], dict[str, list[int]]]:
    """The rows and the units of `arrays` that hold non-finite values.

    Parameters
    ----------
    arrays : mapping of str to np.ndarray, each (N, U)
        The recorded layers (and the logits), rows in clip order.

    Returns
    -------
    rows : dict of int to str
        Row -> the first array (in the mapping's order) where it is non-finite.
    units : dict of str to list of int
        Array name -> units non-finite on every row while other units of it are finite.

    Raises
    ------
    AudioDissectError
        When every value of some array is non-finite (the model gives nothing usable).
    """
    rows: dict[int, str] = {}
    units: dict[str, list[int]] = {}
    for name, array in arrays.items():
        if array.size == 0:
            continue
        finite = np.isfinite(array)  # (N, U)
        if finite.all():
            continue
        if not finite.any():
            raise AudioDissectError(f"every value of {name if name == LOGITS else 'layer ' + repr(name)} is NaN or "
                                    f"infinite, on all {array.shape[0]} clips: the model gives nothing usable",
                                    hint="check the model's weights and its forward (a NaN weight, a division by "
                                         "zero, a log of zero) on a clip or two before dissecting it")
        broken = ~finite.any(axis=0)  # (U,): never finite, while others are
        if broken.any():
            units[name] = np.flatnonzero(broken).tolist()
        for row in np.flatnonzero(~finite[:, ~broken].all(axis=1)).tolist():
            rows.setdefault(int(row), name)
    return rows, units


def describe_rows(rows: Mapping[int, str], ids: Sequence[str], *, shown: int = 5) -> str:
    """``"speech-0003 (layer 'conv'), organ-0001 (the logits) and 2 more"`` for the rows found."""
    parts = [f"{ids[row]} ({where if where == LOGITS else 'layer ' + repr(where)})"
             for row, where in sorted(rows.items())[:shown]]
    more = f" and {len(rows) - shown} more" if len(rows) > shown else ""
    return ", ".join(parts) + more


def check_waveforms(waves: Sequence[np.ndarray]) -> tuple[list[np.ndarray], dict[int, str]]:
    """Waveforms safe to run, and the positions of those whose samples are not finite (with the reason).

    Parameters
    ----------
    waves : sequence of np.ndarray, each (T_i,)

    Returns
    -------
    waves : list of np.ndarray
        The same arrays, those with NaN or infinite samples replaced by silence
        of their length (their rows are to be dropped, see :func:`blank_rows`).
    bad : dict of int to str
        Position -> why (``"its audio holds 3 NaN or infinite samples of 16000"``).
    """
    out, bad = [], {}
    for i, wave in enumerate(waves):
        finite = np.isfinite(wave)
        if finite.all():
            out.append(wave)
            continue
        bad[i] = f"its audio holds {int((~finite).sum())} NaN or infinite samples of {wave.size}"
        out.append(np.zeros_like(wave))
    return out, bad


def blank_rows(arrays: Mapping[str, np.ndarray], logits: np.ndarray, rows: Sequence[int]) -> None:
    """Set `rows` of every array and of the logits to NaN, in place, so that the recording drops them."""
    index = np.asarray(list(rows), dtype=np.int64)
    if index.size == 0:
        return
    for array in (*arrays.values(), logits):
        if array.size:
            array[index] = np.nan
