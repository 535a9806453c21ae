"""Evidence-side terms kept between calls: equal evidence reuses them, any change recomputes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiodissect import similarity as S
from audiodissect.similarity._memo import EvidenceTerms, evidence_terms


def test_equal_evidence_in_another_tensor_reuses_the_terms():
    terms, made = EvidenceTerms(), []
    make = lambda: made.append(1) or torch.ones(3)  # noqa: E731
    x = torch.arange(6.0).reshape(3, 2)
    first = terms("t", x, make, 2.0)
    assert terms("t", x.clone(), make, 2.0) is first and len(made) == 1
    terms("t", x, make, 3.0)                       # other settings
    terms("t", x.double(), make, 2.0)              # other dtype
    terms("u", x, make, 2.0)                       # other kind
    y = x.clone()
    y[0, 0] = 0.5
    terms("t", y, make, 2.0)                       # other content
    assert len(made) == 5


def test_the_store_keeps_its_bounds():
    terms = EvidenceTerms(entries=2, budget=100)
    for i in range(4):
        terms("t", torch.full((2, 2), float(i)), lambda: torch.zeros(5))  # 20 bytes each
    assert len(terms) == 2
    terms("t", torch.zeros(1, 1), lambda: torch.zeros(50))                  # 200 bytes: computed, not kept
    assert len(terms) == 2
    terms.clear()
    assert len(terms) == 0


@pytest.mark.parametrize("name", ["wpmi", "soft_wpmi", "rank_reorder"])
def test_scores_follow_the_evidence_changed_in_place(name):
    # the same array, changed between two calls: the second call must not read the first call's terms
    evidence_terms.clear()
    rng = np.random.default_rng(8)
    P, A = rng.random((60, 4)), rng.normal(size=(60, 5))
    fn = S.get(name)
    before = fn(P, A)
    P[:, 0] = P[:, 0][::-1].copy()
    after = fn(P, A)
    evidence_terms.clear()
    assert torch.equal(after, fn(P, A)) and not torch.equal(before, after)
