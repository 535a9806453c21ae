"""The collapse check: the largest share of a layer's units given one concept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiodissect.errors import AudioDissectError
from audiodissect.similarity import COLLAPSE_THRESHOLD, concept_collapse


def test_top1_indices_by_hand():
    c = concept_collapse(np.array([2, 2, 0, 2, 1, 2, 2, 2, 2, 0]), concepts=["dog", "rain", "waltz"])
    assert (c.concept, c.name, c.count, c.units, c.unnamed) == (2, "waltz", 7, 10, 0)
    assert c.share == 0.7 and c.collapsed
    assert c.message() == "'waltz' names 7 of 10 units (70.0 %): above the collapse threshold 50 %"


def test_scores_take_each_units_first_best_column_and_leave_out_all_equal_rows():
    scores = torch.tensor([[0.1, 0.9, 0.9],      # tie: the first best column, 1
                           [0.5, 0.2, 0.1],
                           [0.0, 0.3, 0.2],
                           [0.4, 0.4, 0.4]])     # all equal: no best concept
    c = concept_collapse(scores, concepts=["a", "b", "c"], min_units=1)
    assert (c.concept, c.name, c.count, c.units, c.unnamed) == (1, "b", 2, 3, 1)
    assert c.share == pytest.approx(2 / 3) and c.collapsed


def test_exactly_half_is_not_a_collapse_and_small_layers_are_never_flagged():
    half = concept_collapse(np.array([0] * 5 + [1, 2, 3, 4, 5]))
    assert half.share == 0.5 and not half.collapsed and half.threshold == COLLAPSE_THRESHOLD
    small = concept_collapse(np.array([3, 3, 3, 3, 3, 3, 3]))          # 7 units < 8
    assert small.share == 1.0 and not small.collapsed
    assert concept_collapse(np.array([3, 3, 3, 3, 3, 3, 3]), min_units=7).collapsed
    assert concept_collapse(np.array([0] * 6 + [1] * 4), threshold=0.6).collapsed is False


def test_a_layer_without_a_best_concept_anywhere():
    c = concept_collapse(np.zeros((9, 3)))
    assert (c.concept, c.units, c.unnamed, c.share, c.collapsed) == (-1, 0, 9, 0.0, False)
    assert c.message() == "no unit has a best concept (9 with all scores equal)"


def test_bad_inputs_are_errors():
    with pytest.raises(AudioDissectError, match="NaN"):
        concept_collapse(np.array([[0.1, np.nan]]))
    with pytest.raises(AudioDissectError, match="non-negative integers"):
        concept_collapse(np.array([0.5, 1.0]))
    with pytest.raises(AudioDissectError, match="outside the 2 concepts"):
        concept_collapse(np.array([0, 2]), concepts=["a", "b"])
    with pytest.raises(AudioDissectError, match="3 concept columns but 2 names"):
        concept_collapse(np.ones((4, 3)), concepts=["a", "b"])
    with pytest.raises(AudioDissectError, match="threshold must be in"):
        concept_collapse(np.array([0, 1]), threshold=1.5)
    with pytest.raises(AudioDissectError, match="empty"):
        concept_collapse(np.array([], dtype=np.int64))
    with pytest.raises(AudioDissectError, match="got shape"):
        concept_collapse(np.zeros((2, 2, 2)))


def test_layer_collapses_are_read_from_ranking_blocks():
    from audiodissect.identify.collapse import layer_collapses
    from audiodissect.identify.units import ranking_block

    concepts = ["dog", "rain", "waltz"]
    one_concept = torch.tensor([[0.0, 0.2, 0.9]] * 8 + [[0.9, 0.1, 0.0]] * 2)  # 8 of 10 units: waltz
    spread = torch.tensor([[0.9, 0.1, 0.0], [0.0, 0.9, 0.1], [0.1, 0.0, 0.9]] * 3)
    kept = ranking_block(one_concept[:, 1:], concepts[1:], layer="a", method="db", similarity="cos", top=2)
    blocks = [ranking_block(one_concept, concepts, layer="a", method="tab", similarity="cos", top=2),
              ranking_block(spread, concepts, layer="b", method="tab", similarity="cos", top=2), kept]
    found = layer_collapses(blocks, concepts, threshold=COLLAPSE_THRESHOLD)
    assert found == [{"layer": "a", "method": "tab", "similarity": "cos", "concept": "waltz", "share": 0.8,
                      "units": 10},
                     {"layer": "a", "method": "db", "similarity": "cos", "concept": "waltz", "share": 0.8,
                      "units": 10}]  # a source's own concepts map back to the run's
