"""Label evidence: a labelled probing set's own labels as an evidence source.

Network dissection names units from annotated data alone: concept c's
evidence is 1 on the clips labelled c and 0 on the others. With it, the
classes no tagger or captioner knows (speakers, spoken digits, a user's own
classes) can be named.

A concept names a label the way :mod:`audiodissect.class_names` matches
concepts to class names everywhere else in the package: by the whole label or,
for AudioSet-style labels that list synonyms separated by commas ("Violin,
fiddle"), by one of them, compared after :func:`~audiodissect.class_names.normalize_concept`
(case, ``_`` and ``-`` ignored, so the concept "dog bark" that
:func:`~audiodissect.identify.concepts.clean_concepts` makes of ``dog_bark``
names the label ``"Dog_Bark"``). A whole label wins over a synonym; a
synonym shared by two labels names neither. A concept that names no label has
an all-zero column, and is *not covered* (:meth:`LabelEvidence.covered`).

Spec ``"labels"`` gives :class:`LabelEvidence` alone; ``"<base>+labels"``
(``"tag-bridge+acoustic+labels"``) gives :class:`WithLabels`: the concepts
that name a label take the label column, every other concept its base
backend's column. Both take ``rename`` (``{probe label: name}``) to call a
label by another name, e.g. a code name no tagger knows (the planted
benchmark's label units, :func:`audiodissect.planted.hard.label_detectors`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..class_names import class_names_lookup, normalize_concept
from ..errors import AudioDissectError

#: Spec suffix that adds the probe's labels to a base backend.
LABELS_SUFFIX = "+labels"


def clip_labels(probe: Any, rename: Mapping[str, str] | None = None) -> list[str | None]:
    """Every clip's label (renamed by `rename` where it names it), in clip order.

    Raises
    ------
    AudioDissectError
        For something that is not a probing set (bare waveforms have no labels).
    """
    clips = getattr(probe, "clips", None)
    if clips is None or not hasattr(probe, "audio"):
        raise AudioDissectError("label evidence needs a probing set with labels, not bare waveforms",
                                hint="pass the ProbeSet itself")
    rename = rename or {}
    return [rename.get(c.label, c.label) if c.label is not None else None for c in clips]


def label_of_concept(concepts: Sequence[str], labels: Sequence[str]) -> list[int | None]:
    """Index into `labels` of the label each concept names (whole label or comma-separated synonym), else None."""
    lookup = class_names_lookup(labels)
    return [lookup.get(normalize_concept(c)) for c in concepts]


def label_indicators(labels: Sequence[str | None], concepts: Sequence[str]) -> np.ndarray:
    """Concept c's evidence: 1 on the clips whose label it names, 0 elsewhere.

    Parameters
    ----------
    labels : sequence of str or None, length N
        Each clip's label (None: unlabelled, 0 in every column).
    concepts : sequence of str, length C

    Returns
    -------
    np.ndarray, shape (N, C), float32
    """
    names = sorted({str(x) for x in labels if x is not None})
    position = {name: i for i, name in enumerate(names)}
    clip_label = np.array([position[str(x)] if x is not None else -1 for x in labels], dtype=np.int64)  # (N,)
    concept_label = np.array([-2 if j is None else j for j in label_of_concept(concepts, names)],
                             dtype=np.int64)                                                         # (C,)
    return (clip_label[:, None] == concept_label[None, :]).astype(np.float32)


class LabelEvidence:
    """Evidence from the probing set's labels (spec ``"labels"``): 1 on a concept's clips, 0 elsewhere.

    Parameters
    ----------
    rename : mapping of str to str, optional
        ``{probe label: name}``: the clips of a label are the clips of its new
        name (labels not in it keep theirs).
    """

    name = "labels"
    cache_dir = None

    def __init__(self, *, rename: Mapping[str, str] | None = None):
        self.rename = {str(k): str(v) for k, v in (rename or {}).items()}

    def settings(self) -> dict[str, Any]:
        """The matching rule and the renames; the labels themselves are part of the probing set's content key."""
        return {"backend": self.name, "match": "class-names", "values": "indicator",
                "rename": sorted(self.rename.items())}

    def covered(self, concepts: Sequence[str], probe: Any = None) -> np.ndarray:
        """Which concepts name one of the probing set's labels, shape (C,), bool (none without a probe)."""
        if probe is None:
            return np.zeros(len(concepts), dtype=bool)
        names = sorted({str(x) for x in clip_labels(probe, self.rename) if x is not None})
        return np.array([j is not None for j in label_of_concept(concepts, names)], dtype=bool)

    def evidence(self, probe: Any, concepts: Sequence[str]) -> np.ndarray:
        """Clip-concept evidence, shape (N, C), float32: label indicators, zero columns for the other concepts."""
        concepts = list(concepts)
        if not concepts:
            raise AudioDissectError("no concepts to compute evidence for")
        return label_indicators(clip_labels(probe, self.rename), concepts)


class WithLabels:
    """A base backend's evidence, with the concepts that name a probe label taken from the labels.

    The label columns are the indicators' normal scores over the clips (an
    affine map of the 0/1 indicator: the mid-rank normal quantile of the
    labelled clips and of the others), the scale of the tag bridge's and the
    acoustic evidence's columns, so that the published similarity functions,
    which compare columns on their raw scale, weigh them like the others.

    Parameters
    ----------
    base : backend
        Any evidence backend (``evidence(probe, concepts)``).
    rename : mapping of str to str, optional
        For :class:`LabelEvidence`.
    """

    def __init__(self, base: Any, *, rename: Mapping[str, str] | None = None):
        self.base = base
        self.labels = LabelEvidence(rename=rename)
        self.name = f"{base.name}{LABELS_SUFFIX}"

    @property
    def cache_dir(self) -> Any:
        return getattr(self.base, "cache_dir", None)

    @cache_dir.setter
    def cache_dir(self, value: Any) -> None:
        if getattr(self.base, "cache_dir", 0) is None:
            self.base.cache_dir = value

    def settings(self) -> dict[str, Any]:
        base = self.base.settings() if hasattr(self.base, "settings") else {"backend": self.base.name}
        return {"base": base, "labels": self.labels.settings(), "combine": "labels-replace"}

    def covered(self, concepts: Sequence[str], probe: Any = None) -> np.ndarray:
        """Concepts with evidence from the labels or the base, shape (C,), bool."""
        from .coverage import backend_coverage

        return self.labels.covered(concepts, probe) | backend_coverage(self.base, concepts, probe)

    def evidence(self, probe: Any, concepts: Sequence[str]) -> np.ndarray:
        """Clip-concept evidence, shape (N, C), float32; the base is asked only for the concepts no label names."""
        from .acoustic import rank_gaussian

        concepts = list(concepts)
        if not concepts:
            raise AudioDissectError("no concepts to compute evidence for")
        named = self.labels.covered(concepts, probe)
        out = np.zeros((len(probe.clips), len(concepts)), dtype=np.float32)
        if named.any():
            out[:, named] = rank_gaussian(self.labels.evidence(probe, [c for c, k in zip(concepts, named) if k]))
        if not named.all():
            rest = [c for c, k in zip(concepts, named) if not k]
            out[:, ~named] = np.asarray(self.base.evidence(probe, rest), dtype=np.float32)
        return out
