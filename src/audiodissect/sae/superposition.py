"""A planted superposition layer: known concepts mixed into fewer units, and how many of them units recover.

:func:`superposed_target` wraps a classifier like
:func:`audiodissect.planted.plant_units` does, but its ``planted`` layer holds
U < C units, each a fixed mix of C known concepts: with the concepts' values
p (B, C) (by default one :class:`ClassProbability` per class: the wrapped
model's softmax probability of that class), the layer outputs ``p @ M.T``,
where M (U, C) is the first U rows of a random C x C rotation drawn with a
seed. The concepts are then directions in a U-dimensional space and no unit
carries one of them alone: the superposition a sparse autoencoder should
undo. The unmixed concepts stay readable at ``planted.concepts`` (the ground
truth).

:func:`recovery` measures, for the units of a layer (neurons or latents), how
many of the C concepts are *recovered*: some unit is named that concept
(its top-1 closed-set concept) and really carries it (the concept its
activations correlate with most, on held-out clips, with a Pearson
correlation of at least ``purity``, 0.8 by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import AudioDissectError
from ..planted import plant_units
from ..planted.detectors import ClassCopy, Detector, Spectra
from ..planted.model import PLANTED_LAYER, PlantedLayer
from ..targets.base import Target

#: Module path of the unmixed concepts inside a superposed target.
CONCEPTS_LAYER = f"{PLANTED_LAYER}.concepts"


class ClassProbability(ClassCopy):
    """The wrapped model's softmax probability of class `index` (a sparse concept: near 1 on its clips)."""

    def forward(self, spectra: Spectra) -> torch.Tensor:
        return spectra.logits.float().softmax(dim=-1)[:, self.index]

    def describe(self) -> str:
        return f"softmax probability of class {self.index} ({self.concept})"


def random_rotation_rows(concepts: int, units: int, *, seed: int = 0) -> torch.Tensor:
    """The first `units` rows of a random `concepts` x `concepts` rotation, (units, concepts), orthonormal rows.

    The rotation is the Q of a QR decomposition of a seeded Gaussian matrix, signs fixed
    so that R has a positive diagonal (a uniformly random orthogonal matrix).
    """
    if not 1 <= units <= concepts:
        raise AudioDissectError(f"a superposition layer needs 1 <= units <= concepts, got {units} units for "
                                f"{concepts} concepts")
    g = torch.Generator().manual_seed(int(seed))
    q, r = torch.linalg.qr(torch.randn(concepts, concepts, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))[None, :]
    return q[:units].float().contiguous()


class SuperposedLayer(torch.nn.Module):
    """Known concepts mixed into fewer units: ``forward(waveform, lengths, logits) -> (B, U)``.

    Parameters
    ----------
    detectors : sequence of Detector
        The C concepts (unit c of the child ``concepts`` is ``detectors[c]``).
    units : int
        U, fewer than C.
    sample_rate : int
    seed : int
        Seed of the rotation.

    Attributes
    ----------
    concepts : PlantedLayer
        The unmixed concepts, (B, C).
    mixing : torch.Tensor, shape (U, C)
        A buffer: unit u is ``sum_c mixing[u, c] * concept_c``.
    """

    def __init__(self, detectors: Sequence[Detector], *, units: int, sample_rate: int, seed: int = 0):
        super().__init__()
        self.concepts = PlantedLayer(detectors, sample_rate=sample_rate)
        self.register_buffer("mixing", random_rotation_rows(len(detectors), int(units), seed=seed))

    @property
    def names(self) -> list[str]:
        return self.concepts.concepts

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return self.concepts(waveform, lengths, logits) @ self.mixing.T


def superposed_target(target: Target, *, units: int, detectors: Sequence[Detector] | None = None,
                      seed: int = 0) -> Target:
    """A copy of `target` with a ``planted`` layer of `units` units mixing known concepts (module docstring).

    Parameters
    ----------
    target : Target
        A classifier with class names (the default concepts are its classes' probabilities).
    units : int
        Units of the planted layer (fewer than the concepts).
    detectors : sequence of Detector, optional
        The concepts (default: one :class:`ClassProbability` per class).
    seed : int
        Seed of the rotation.

    Returns
    -------
    Target
        Its layers ``planted`` (U mixed units) and ``planted.concepts`` (the C concepts)
        can be recorded; its logits are the wrapped model's.
    """
    if detectors is None:
        if not target.class_names:
            raise AudioDissectError("the default superposed concepts are the model's classes, and it has none",
                                    hint="give detectors=[...]")
        detectors = [ClassProbability(i, name) for i, name in enumerate(target.class_names)]
    planted = plant_units(target, list(detectors), name=f"superposed:{target.name}")
    layer = SuperposedLayer(list(planted.module.planted.detectors), units=units, sample_rate=target.sample_rate,
                            seed=seed)
    planted.module.planted = layer.to(target.device)
    planted.default_layers = [PLANTED_LAYER]
    return planted


def _pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Correlation of every column of x (N, U) with every column of y (N, C) -> (U, C); 0 for constant columns."""
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    nx, ny = np.linalg.norm(x, axis=0), np.linalg.norm(y, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (x.T @ y) / np.outer(nx, ny)
    return np.nan_to_num(r, nan=0.0)


def recovery(activations: np.ndarray, truth: np.ndarray, names: Sequence[str | None], concepts: Sequence[str], *,
             purity: float = 0.8) -> dict[str, Any]:
    """How many planted concepts a layer's units recover, named right.

    Parameters
    ----------
    activations : np.ndarray, shape (N, U)
        The layer's units on clips not used to name them (held-out clips).
    truth : np.ndarray, shape (N, C)
        The planted concepts' values on the same clips.
    names : sequence of str or None, length U
        Each unit's top-1 closed-set concept (None: unnamed).
    concepts : sequence of str, length C
        The planted concepts' names.
    purity : float
        Least Pearson correlation between a unit and the concept it carries.

    Returns
    -------
    dict
        ``recovered`` (share of the C concepts), ``recovered_concepts`` (their names),
        ``named_only`` (share of concepts some unit carrying it most is named, whatever its purity),
        ``pure_units`` (share of units with correlation >= purity), ``units``, ``concepts``.
    """
    activations = np.asarray(activations, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if activations.shape[0] != truth.shape[0] or len(names) != activations.shape[1] or \
            len(concepts) != truth.shape[1]:
        raise AudioDissectError(f"recovery: activations {activations.shape}, truth {truth.shape}, {len(names)} names "
                                f"and {len(concepts)} concepts do not fit")
    r = _pearson(activations, truth)
    carried = r.argmax(axis=1)
    strength = r[np.arange(len(carried)), carried]
    right = np.array([names[u] is not None and names[u] == concepts[carried[u]] for u in range(len(carried))], bool)
    pure = strength >= purity
    recovered = sorted({concepts[c] for c in carried[right & pure]})
    named = {concepts[c] for c in carried[right]}
    return {"units": int(len(carried)), "concepts": int(len(concepts)),
            "recovered": len(recovered) / len(concepts), "recovered_concepts": recovered,
            "named_only": len(named) / len(concepts), "pure_units": float(pure.mean()) if len(pure) else 0.0}
