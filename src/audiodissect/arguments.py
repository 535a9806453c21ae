"""Checks of the front door's arguments: the wrong type is a clear error before anything is made."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .config import RunConfig
from .errors import AudioDissectError
from .layout import parse_layout
from .probes.base import ProbeSet


def check_layouts(layouts: dict[str, Any]) -> dict[str, str]:
    """`layouts` ({layer path or glob: layout}) with every layout read (:func:`audiodissect.layout.parse_layout`)."""
    for layer, text in layouts.items():
        if not isinstance(text, str):
            raise AudioDissectError(f"the layout of {layer!r} must be a string such as 'BTC', got {kind(text)}")
        parse_layout(text, layer=layer)
    return dict(layouts)


def kind(value: Any) -> str:
    """``"float 12.5"``: a value's type and (when short) its repr, for messages."""
    return f"{type(value).__name__} {value!r}" if len(repr(value)) <= 60 else type(value).__name__


def check_arguments(*, probe: Any, out: Any, config: Any, factory: Any, layouts: Any, sample_rate: Any,
                    preprocess: Any, forward: Any, output_layout: Any = None, min_samples: Any = None) -> None:
    """Refuse arguments of the wrong type before anything is created (``probe=42``, ``out=12.5``)."""
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise AudioDissectError(f"out must be a folder path (str or pathlib.Path), got {kind(out)}",
                                hint='e.g. out="runs/mine"')
    if probe is not None and not isinstance(probe, (str, os.PathLike, ProbeSet)):
        raise AudioDissectError(f"probe must be a probing-set name, a folder or clips, got {kind(probe)}",
                                hint='e.g. probe="soundbank", probe="data/my_clips", or probe=ad.clips(waves, '
                                     'sample_rate=16000, labels=labels)')
    if config is not None and not isinstance(config, (RunConfig, dict)):
        raise AudioDissectError(f"config must be a RunConfig or a dict of settings, got {kind(config)}")
    if factory is not None and not isinstance(factory, str):
        raise AudioDissectError(f"factory must be a 'package.module:function' string, got {kind(factory)}")
    if layouts is not None and not (isinstance(layouts, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in layouts.items())):
        raise AudioDissectError(f"layouts must be a dict of layer -> layout strings, got {kind(layouts)}",
                                hint='e.g. layouts={"encoder.*": "BTC", "head": "(BT)C"}')
    if sample_rate is not None and (isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer))
                                    or sample_rate <= 0):
        raise AudioDissectError(f"sample_rate must be a positive whole number of Hz, got {kind(sample_rate)}")
    if output_layout is not None:
        if not isinstance(output_layout, str):
            raise AudioDissectError(f"output_layout must be a layout string such as '(BT)C', got {kind(output_layout)}")
        parse_layout(output_layout, layer="the output")
    if min_samples is not None and (isinstance(min_samples, bool) or not isinstance(min_samples, (int, np.integer))
                                    or min_samples < 1):
        raise AudioDissectError(f"min_samples must be a positive whole number of samples, got {kind(min_samples)}")
    for name, value in (("preprocess", preprocess), ("forward", forward)):
        if value is not None and not callable(value):
            raise AudioDissectError(f"{name} must be a function, got {kind(value)}")
