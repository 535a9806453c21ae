"""Test backends put where the run's settings find them: registered under a name in the public registries.

Every name registered here is removed again after the test (``conftest.forget_test_backends``), so the
registries' lists of names stay those of the package.
"""

from __future__ import annotations

from typing import Any

#: (registry, name) of every backend a test registered and not yet removed.
REGISTERED: list[tuple[Any, str]] = []


def _register(registry: Any, name: str, factory: Any) -> str:
    registry.register(name, factory, replace=True)
    REGISTERED.append((registry, name))
    return name


def text_embedder(name: str, embedder: Any) -> str:
    """Register `embedder` (an object with ``encode``) as text embedder `name`; returns the name for the settings."""
    from audiodissect.text_embedder import TEXT_EMBEDDERS

    return _register(TEXT_EMBEDDERS, name, lambda: embedder)


def evidence_backend(name: str, backend: Any) -> str:
    """Register `backend` (an object with ``evidence``) as audio-text evidence backend `name`; returns the name."""
    from audiodissect.evidence import EVIDENCE_BACKENDS

    return _register(EVIDENCE_BACKENDS, name, lambda **options: backend)


def forget() -> None:
    """Remove every backend registered since the last call."""
    while REGISTERED:
        registry, name = REGISTERED.pop()
        if name in registry.names():
            registry.unregister(name)


def captioner(name: str, factory: Any) -> str:
    """Register `factory` (``factory(probe, **options) -> captioner``) as captioner `name`; returns the spec."""
    from audiodissect.captioners.specs import CAPTIONERS

    return _register(CAPTIONERS, name, factory)
