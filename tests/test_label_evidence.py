"""Label evidence (a labelled probe's own labels) and the concepts without evidence."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtri

from audiodissect.errors import AudioDissectError
from audiodissect.evidence import (AcousticEvidence, CombinedEvidence, LabelEvidence, TagBridge, WithLabels,
                                   backend_coverage, compute_evidence, constant_columns, is_circular,
                                   load_evidence_backend, no_evidence)
from audiodissect.evidence.labels import label_indicators
from audiodissect.identify.units import identify_units
from audiodissect.probes.base import ArrayProbeSet, ClipInfo


def _probe(labels, seconds=0.05):
    clips = [ClipInfo(id=f"c{i}", label=label) for i, label in enumerate(labels)]
    audio = [np.full(int(16000 * seconds), 0.01 * (i + 1), dtype=np.float32) for i in range(len(labels))]
    return ArrayProbeSet(name="tiny", clips=clips, audio=audio, sample_rate=16000, spec={"name": "tiny"})


class RecordingBase:
    """A base backend whose column for a concept is the clip index times the concept's length."""

    name = "fake-base"
    cache_dir = None

    def __init__(self):
        self.asked = []

    def settings(self):
        return {"backend": self.name}

    def evidence(self, probe, concepts):
        self.asked.append(list(concepts))
        return np.arange(len(probe.clips), dtype=np.float32)[:, None] * np.array([len(c) for c in concepts])


class NoiseBase(RecordingBase):
    """A base backend whose columns are seeded noise: it knows nothing about the clips."""

    def evidence(self, probe, concepts):
        return np.random.default_rng(len(concepts)).random((len(probe.clips), len(concepts))).astype(np.float32)


def test_indicators_match_whole_labels_and_comma_synonyms_like_class_names():
    labels = ["Dog_Bark", "rain", None, "Violin, fiddle", "rain"]
    concepts = ["dog bark", "Rain", "fiddle", "violin", "Violin, fiddle", "speaker 3"]
    np.testing.assert_array_equal(label_indicators(labels, concepts), [
        [1, 0, 0, 0, 0, 0],
        [0, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],     # unlabelled
        [0, 0, 1, 1, 1, 0],
        [0, 1, 0, 0, 0, 0],
    ])
    assert label_indicators(labels, concepts).dtype == np.float32


def test_a_synonym_shared_by_two_labels_names_neither():
    ev = label_indicators(["Guitar, strings", "Harp, strings", "Guitar, strings"], ["strings", "guitar", "harp"])
    np.testing.assert_array_equal(ev, [[0, 1, 0], [0, 0, 1], [0, 1, 0]])


def test_label_evidence_on_a_probing_set_and_its_coverage():
    probe = _probe(["speaker 7", "speaker 2", "speaker 7"])
    backend = LabelEvidence()
    np.testing.assert_array_equal(backend.evidence(probe, ["speaker_7", "speaker 9"]), [[1, 0], [0, 0], [1, 0]])
    assert backend.covered(["Speaker-7", "speaker 9"], probe).tolist() == [True, False]
    assert backend.covered(["speaker 7"]).tolist() == [False]          # no probe: no labels
    with pytest.raises(AudioDissectError, match="needs a probing set"):
        backend.evidence([np.zeros(100)], ["speaker 7"])


def test_with_labels_takes_labelled_concepts_from_the_labels_and_asks_the_base_for_the_rest():
    probe = _probe(["alice", "bob", "alice", "carol"])
    base = RecordingBase()
    ev = WithLabels(base).evidence(probe, ["bob", "dog", "Alice", "rain"])
    assert base.asked == [["dog", "rain"]]
    # the label columns are the indicators' normal scores: 1 of 4 and 2 of 4 clips labelled
    np.testing.assert_allclose(ev[:, 0], ndtri([0.375, 0.875, 0.375, 0.375]), rtol=1e-6)
    np.testing.assert_allclose(ev[:, 2], ndtri([0.75, 0.25, 0.75, 0.25]), rtol=1e-6)
    np.testing.assert_array_equal(ev[:, [1, 3]], [[0, 0], [3, 4], [6, 8], [9, 12]])
    assert WithLabels(base).covered(["bob", "dog"], probe).tolist() == [True, True]


def test_with_labels_caches_through_compute_evidence(tmp_path):
    probe = _probe(["alice", "bob", "alice"])
    base = RecordingBase()
    first = compute_evidence("tab", probe, ["alice", "dog"], backend=WithLabels(base), cache_dir=tmp_path)
    again = compute_evidence("tab", probe, ["alice", "dog"], backend=WithLabels(base), cache_dir=tmp_path)
    np.testing.assert_array_equal(first, again)
    assert base.asked == [["dog"]]                                      # the second call read the cache
    relabelled = _probe(["bob", "bob", "alice"])                        # same audio, other labels: a new key
    compute_evidence("tab", relabelled, ["alice", "dog"], backend=WithLabels(base), cache_dir=tmp_path)
    assert base.asked == [["dog"], ["dog"]]


def test_specs_with_labels():
    assert isinstance(load_evidence_backend("labels"), LabelEvidence)
    combined = load_evidence_backend("tag-bridge+acoustic+labels")
    assert isinstance(combined, WithLabels) and isinstance(combined.base, CombinedEvidence)
    assert isinstance(combined.base.base, TagBridge) and combined.name == "tag-bridge:yamnet+acoustic+labels"
    assert isinstance(load_evidence_backend("acoustic+labels").base, AcousticEvidence)
    assert is_circular("yamnet", "tag-bridge+acoustic+labels") and is_circular("yamnet", combined)
    assert not is_circular("yamnet", "labels") and not is_circular("yamnet", load_evidence_backend("labels"))


def test_a_speaker_unit_is_named_by_label_evidence_only():
    # 100 clips of 4 speakers; the unit fires on speaker "p225"'s clips; the base knows nothing of speakers
    labels = ["p225", "p226", "p227", "p228"] * 25
    probe = _probe(labels)
    rng = np.random.default_rng(0)
    concepts = ["p226", "p225", "speech", "low-pitched"]
    unit = (np.array(labels) == "p225").astype(np.float32) + 0.1 * rng.random(100).astype(np.float32)
    evidence = WithLabels(NoiseBase()).evidence(probe, concepts)
    records = identify_units({"tab": evidence}, {"enc": unit[:, None]}, concepts,
                             similarities=["cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi"])
    assert {r["similarity"]: r["concepts"][0] for r in records} == dict.fromkeys(
        ["cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi"], "p225")


def test_constant_columns_up_to_rounding():
    x = np.zeros((5, 4), dtype=np.float32)
    x[:, 1] = 0.3
    x[:, 1] += np.float32(0.3) * np.float32(1e-7) * np.arange(5, dtype=np.float32)   # float32 rounding-size wobble
    x[:, 2] = [0, 1e-30, 0, 0, 0]                                                    # tiny but real
    x[:, 3] = [1, 2, 3, 4, 5]
    assert constant_columns(x).tolist() == [True, True, False, False]
    with pytest.raises(AudioDissectError, match="NaN"):
        constant_columns(np.array([[np.nan, 1.0]]))


def test_no_evidence_names_each_concept_and_its_reason():
    ev = np.array([[0.0, 0.5, 1.0, 0.2],
                   [0.0, 0.5, 0.0, 0.1],
                   [0.0, 0.5, 1.0, 0.3]])
    got = no_evidence(ev, ["alice", "hum", "dog", "rain"], covered=np.array([True, True, True, False]))
    assert got == {"alice": "all zero", "hum": "the same on every clip", "rain": "not covered by the evidence source"}
    assert no_evidence(ev[:, 2:3], ["dog"]) == {}
    with pytest.raises(AudioDissectError, match="4 concept columns but 2"):
        no_evidence(ev, ["a", "b"])


def test_backend_coverage_of_each_source():
    probe = _probe(["alice", "bob"])
    concepts = ["alice", "low-pitched", "dog"]
    assert backend_coverage(TagBridge(), concepts, probe).tolist() == [True, True, True]    # every name gets a column
    assert backend_coverage(AcousticEvidence(), concepts, probe).tolist() == [False, True, False]
    assert backend_coverage(LabelEvidence(), concepts, probe).tolist() == [True, False, False]
    assert backend_coverage(load_evidence_backend("acoustic+labels"), concepts, probe).tolist() == [True, True, False]
    assert backend_coverage(CombinedEvidence(RecordingBase()), concepts, probe).tolist() == [True, True, True]
