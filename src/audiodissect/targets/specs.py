"""Checking a target model's spec before anything is loaded or generated."""

from __future__ import annotations

from ..errors import unknown_name_error

#: Built-in target names, and the prefixes of targets read from a hub id or a file.
BUILTIN = ("demo-cnn", "yamnet")
PREFIXES = ("hf:", "beats:")


def is_target_spec(spec: str) -> bool:
    """Whether `spec` names a model that :func:`~audiodissect.targets.load_target` can load."""
    spec = spec.strip()
    return spec in BUILTIN or any(spec.startswith(p) and len(spec) > len(p) for p in PREFIXES)


def check_target_spec(spec: str) -> str:
    """`spec` stripped, or a clear error listing the valid names (no model is loaded)."""
    spec = spec.strip()
    if is_target_spec(spec):
        return spec
    raise unknown_name_error("target model", spec, [*BUILTIN, "hf:<model id or path>", "beats:<checkpoint path>"])
