"""Packages that import what they export on first use (PEP 562), so that importing them costs nothing heavy."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` for names imported from its modules on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to str
        Each public name to the module (relative to the package) that defines it.
    namespace : dict
        The package's ``globals()``: a name is stored there once imported, so it is looked up once.

    Returns
    -------
    (__getattr__, __dir__)
        To assign at the package's top level: ``__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())``.
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(f".{exports[name]}", package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
