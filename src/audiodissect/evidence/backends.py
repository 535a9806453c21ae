"""The audio-text (TAB) evidence backends by spec, and the ``+acoustic`` composition.

``tag-bridge[:<tagger>]`` (the offline default's base), ``clap[:<hub id or
path>]`` and ``acoustic`` are entries of :data:`EVIDENCE_BACKENDS`; any spec
with ``+acoustic`` appended takes the acoustic words' columns measured on the
audio (:class:`~audiodissect.evidence.acoustic.CombinedEvidence`) and the
others from the spec before it.

Each factory imports its backend's module when called, so that listing the
accepted specs (help texts, settings) imports none of them (nor scipy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..registry import Registry, hub_reach
from ..targets.specs import TARGETS
from .clap import DEFAULT_CLAP
from .labels import LABELS_SUFFIX
from .tag_bridge import DEFAULT_TAGGER, DEFAULT_VARIANT

if TYPE_CHECKING:
    import numpy as np

    from .acoustic import AcousticEvidence
    from .clap import ClapEvidence
    from .labels import LabelEvidence
    from .tag_bridge import TagBridge

#: The tag bridge for sources, with the acoustic words (pitch, brightness, noisiness, ...) measured on the clips.
DEFAULT_TAB_BACKEND = "tag-bridge+acoustic"
#: Appended to a spec: the acoustic words' columns measured on the audio, the others from the base.
ACOUSTIC_SUFFIX = "+acoustic"


class EvidenceBackend(Protocol):
    name: str

    def evidence(self, probe_or_waveforms: Any, concepts: Sequence[str]) -> np.ndarray:
        """Clip-concept evidence, shape (N, C), float32."""
        ...

    def settings(self) -> dict[str, Any]:
        """JSON-able settings that, with the clips and concepts, determine the evidence."""
        ...


def _tag_bridge(tagger: str | None, *, device: str | None = None, variant: str = DEFAULT_VARIANT,
                embedder: Any = "minilm", batch_size: int | None = None) -> TagBridge:
    from .tag_bridge import TagBridge

    return TagBridge(tagger_name=tagger or DEFAULT_TAGGER, embedder=embedder, variant=variant,
                     batch_size=batch_size or 16)


def _clap(model: str | None, *, device: str | None = None, variant: str = DEFAULT_VARIANT,
          embedder: Any = "minilm", batch_size: int | None = None) -> ClapEvidence:
    from .clap import ClapEvidence

    return ClapEvidence(model or DEFAULT_CLAP, device=device, batch_size=batch_size or 8)


def _acoustic(**_: Any) -> AcousticEvidence:
    from .acoustic import AcousticEvidence

    return AcousticEvidence()


def _labels(**_: Any) -> LabelEvidence:
    from .labels import LabelEvidence

    return LabelEvidence()


#: The TAB evidence backends by spec (names in any case). ``EVIDENCE_BACKENDS.register(name,
#: factory)`` adds one; its factory takes ``device``, ``variant``, ``embedder`` and ``batch_size``.
EVIDENCE_BACKENDS: Registry[Any] = Registry("evidence backend", fold=str.lower)
EVIDENCE_BACKENDS.register("tag-bridge", _tag_bridge, argument="<tagger>", optional=True,
                           aliases=("tag_bridge", "tags"), reach=lambda tagger: tagger and TARGETS.reach(tagger))
EVIDENCE_BACKENDS.register("clap", _clap, argument="<hub id or path>", optional=True,
                           reach=lambda model: hub_reach(model or DEFAULT_CLAP))
EVIDENCE_BACKENDS.register("acoustic", _acoustic)
EVIDENCE_BACKENDS.register("labels", _labels)


def evidence_forms() -> tuple[str, ...]:
    """The accepted TAB backend specs, for help texts: the registry's forms and the ``+acoustic`` composition."""
    return (*EVIDENCE_BACKENDS.forms(), f"<any of these>{ACOUSTIC_SUFFIX}", f"<any of these>{LABELS_SUFFIX}")


def load_evidence_backend(spec: str = DEFAULT_TAB_BACKEND, *, device: str | None = None,
                          variant: str = DEFAULT_VARIANT, embedder: Any = "minilm",
                          batch_size: int | None = None) -> Any:
    """A TAB evidence backend from its spec.

    Parameters
    ----------
    spec : str
        ``"tag-bridge"`` (YAMNet as the tagger), ``"tag-bridge:<target spec>"``,
        ``"clap"`` (``laion/clap-htsat-unfused``) or ``"clap:<hub id or local folder>"``;
        ``"acoustic"`` (measured acoustic words only); ``"labels"`` (a labelled
        probing set's own labels); a name registered in
        :data:`EVIDENCE_BACKENDS`; any of these with ``"+acoustic"`` appended
        (``"tag-bridge+acoustic"``, ``"clap:<id>+acoustic"``): the acoustic
        words' columns measured, the others from that backend.
    device : str, optional
        For CLAP.
    variant : str
        Tag-bridge combination, a key of ``VARIANTS``.
    embedder : str or text embedder
        Tag-bridge name matcher.
    batch_size : int, optional

    Raises
    ------
    AudioDissectError
        For an unknown or malformed spec; the message lists the closest names.
    """
    spec = str(spec).strip()
    options = {"device": device, "variant": variant, "embedder": embedder, "batch_size": batch_size}
    if spec.lower().endswith(LABELS_SUFFIX):
        from .labels import WithLabels

        return WithLabels(load_evidence_backend(spec[:-len(LABELS_SUFFIX)], **options))
    if spec.lower().endswith(ACOUSTIC_SUFFIX):
        from .acoustic import CombinedEvidence

        return CombinedEvidence(load_evidence_backend(spec[:-len(ACOUSTIC_SUFFIX)], **options))
    return EVIDENCE_BACKENDS.build(spec, **options)


def evidence_reach(spec: str) -> str | None:
    """What the TAB backend of `spec` does outside this process (None: nothing); ``+acoustic`` and
    ``+labels`` add nothing."""
    spec = str(spec).strip()
    for suffix in (LABELS_SUFFIX, ACOUSTIC_SUFFIX):
        if spec.lower().endswith(suffix):
            return evidence_reach(spec[:-len(suffix)])
    return EVIDENCE_BACKENDS.reach(spec)


def is_circular(target_name: str, evidence_backend: Any) -> bool:
    """Whether TAB evidence from `evidence_backend` explains `target_name` with itself.

    True when the backend is a tag bridge whose tagger is the target model
    (then the target's own outputs are the evidence its units are compared
    with, and its last layer is recovered trivially).

    Parameters
    ----------
    target_name : str
        The target's spec, e.g. ``"yamnet"``.
    evidence_backend : str or backend
        A backend object (one with a ``tagger_name`` attribute is a tag
        bridge), or its spec (``"tag-bridge"``, ``"tag-bridge:<tagger>"``,
        ``"clap..."``); a spec builds the backend, which loads no model.
    """
    if isinstance(evidence_backend, str):
        evidence_backend = load_evidence_backend(evidence_backend)
    base = evidence_backend
    while hasattr(base, "base"):  # "+acoustic", "+labels": the tag bridge is innermost
        base = base.base
    tagger = getattr(base, "tagger_name", None)
    if tagger is None:
        return False
    return str(tagger).strip().lower() == str(target_name).strip().lower()
