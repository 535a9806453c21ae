"""Test backends put where the run's settings find them: registered under a name in the public registries."""

from __future__ import annotations

from typing import Any


def text_embedder(name: str, embedder: Any) -> str:
    """Register `embedder` (an object with ``encode``) as text embedder `name`; returns the name for the settings."""
    from audiodissect.text_embedder import TEXT_EMBEDDERS

    TEXT_EMBEDDERS.register(name, lambda: embedder, replace=True)
    return name


def evidence_backend(name: str, backend: Any) -> str:
    """Register `backend` (an object with ``evidence``) as audio-text evidence backend `name`; returns the name."""
    from audiodissect.evidence import EVIDENCE_BACKENDS

    EVIDENCE_BACKENDS.register(name, lambda **options: backend, replace=True)
    return name
