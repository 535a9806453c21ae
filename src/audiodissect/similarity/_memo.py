"""Evidence-side terms kept between calls: a run scores layer after layer against the same evidence.

A similarity function's work splits into what depends on the evidence alone
(its columns' normal scores, softmax tables, clip priors) and what depends on
the units. Identify calls each function once per layer with the same
evidence, so :data:`evidence_terms` keeps the first kind, keyed by the
evidence's content (a digest of its bytes, dtype, shape and device) and the
settings they were made with: another call with equal evidence gets the same
terms without computing them again, whatever array object holds it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np
import torch

T = TypeVar("T")


def _nbytes(value: Any) -> int:
    """Bytes of the tensors `value` is or holds (its attributes, one level down)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    return sum(_nbytes(v) for v in vars(value).values() if isinstance(v, torch.Tensor)) if hasattr(value, "__dict__") \
        else 0


class EvidenceTerms:
    """A bounded store of terms computed from evidence alone, least recently used out first.

    Parameters
    ----------
    entries : int
        Terms kept at most.
    budget : int
        Bytes of tensors kept at most (a single larger term is computed but not kept).
    """

    def __init__(self, *, entries: int = 32, budget: int = 256 * 2**20):
        self.entries = entries
        self.budget = budget
        self._kept: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, what: str, evidence: torch.Tensor, make: Callable[[], T], *settings: Hashable) -> T:
        """The terms `make()` computes from `evidence` (N, C) with `settings`, computed once for equal evidence.

        Parameters
        ----------
        what : str
            Names the kind of terms (one kind per `make`).
        evidence : torch.Tensor, shape (N, C)
            What the terms are computed from; never changed by the caller afterwards.
        make : callable
            Computes the terms; what it returns must not be changed by whoever reads it.
        settings : hashable
            Everything else `make` depends on.
        """
        data = np.ascontiguousarray(evidence.detach().cpu().numpy())
        key = (what, settings, str(evidence.dtype), str(evidence.device), tuple(evidence.shape),
               hashlib.blake2b(data.view(np.uint8).reshape(-1), digest_size=16).digest())
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key][0]
        value = make()
        size = _nbytes(value)
        if size <= self.budget:
            with self._lock:
                self._kept[key] = (value, size)
                while len(self._kept) > self.entries or sum(s for _, s in self._kept.values()) > self.budget:
                    self._kept.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every kept term."""
        with self._lock:
            self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)


#: The terms of the built-in similarity functions, shared by every call in the process.
evidence_terms = EvidenceTerms()
