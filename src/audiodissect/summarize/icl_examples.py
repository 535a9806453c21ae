"""Worked examples for few-shot concept choice (the paper's two-shot ICL prompt), built from the concept list.

The paper's ICL prompt shows the LLM two worked examples before the unit's
summary: a summary that plainly names a sound source, answered with that
class, and a summary that also mentions a source missing from the class
list, answered with the listed class. Ours follows that pattern with our
own wording, and builds both examples from the run's own concept list so
that they fit any vocabulary:

- the example concepts sit at positions ``floor(j * C / (shots + 1))`` for
  ``j = 1..shots`` of the C concepts (the thirds of the list for two shots),
  away from its start, which small models tend to copy;
- example ``j`` fills summary template ``j`` of :data:`EXAMPLE_SUMMARIES`
  with its concept;
- its answer is the concept itself; when k concepts are asked for, it is
  followed by the concepts ``step, 2 step, ...`` places further down the
  list (cyclically), ``step = C // min(k, C)``, so that the k names are
  distinct and spread over the list rather than its neighbours in order.

Everything is a pure function of the concept list, k and the number of
shots: the same inputs give the same prompt.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import AudioDissectError

#: Example summaries, in the order they are shown; ``{concept}`` is the example's concept.
EXAMPLE_SUMMARIES = (
    "All of the clips contain the sound of {concept}. The sound is loud and repeats several times "
    "within each clip. The recordings are noisy and of poor quality.",
    "Every clip features {concept}, recorded close to the microphone. One clip also holds a sound "
    "that is not among the candidate concepts. The sound is steady, with no other source in the background.",
)
#: Most worked examples a prompt can hold.
MAX_SHOTS = len(EXAMPLE_SUMMARIES)


def example_positions(n_concepts: int, shots: int) -> list[int]:
    """Positions in the concept list of the examples' concepts.

    Parameters
    ----------
    n_concepts : int
        C, the length of the concept list.
    shots : int
        Number of examples, ``0..MAX_SHOTS``.

    Returns
    -------
    list of int, length `shots`
        ``floor(j * C / (shots + 1))`` for ``j = 1..shots``; distinct when ``C >= shots``.
    """
    if not 0 <= shots <= MAX_SHOTS:
        raise AudioDissectError(f"shots must lie in 0..{MAX_SHOTS}, got {shots}")
    if n_concepts < shots:
        raise AudioDissectError(f"{shots} worked examples need at least {shots} concepts, got {n_concepts}",
                                hint="use shots=0 (zero-shot) with so short a concept list")
    return [j * n_concepts // (shots + 1) for j in range(1, shots + 1)]


def example_answer(concepts: Sequence[str], position: int, k: int) -> list[str]:
    """The concepts an example whose concept is ``concepts[position]`` answers, best first.

    Parameters
    ----------
    concepts : sequence of str, length C
    position : int
        The example's concept, in ``[0, C)``.
    k : int
        Concepts asked for.

    Returns
    -------
    list of str, length ``min(k, C)``
        ``concepts[(position + j * step) % C]`` for ``j = 0..min(k, C) - 1``,
        ``step = C // min(k, C)``.
    """
    n = len(concepts)
    if k < 1 or not 0 <= position < n:
        raise AudioDissectError(f"need k >= 1 and a position in 0..{n - 1}, got k={k}, position={position}")
    kk = min(k, n)
    step = n // kk
    return [concepts[(position + j * step) % n] for j in range(kk)]


def worked_examples(concepts: Sequence[str], *, k: int = 1, shots: int = 2) -> list[tuple[str, list[str]]]:
    """The worked examples of a few-shot concept-choice prompt.

    Parameters
    ----------
    concepts : sequence of str, length C
        The candidate concepts, in the prompt's order.
    k : int
        Concepts each answer names.
    shots : int
        Number of examples, ``0..MAX_SHOTS`` (at most C).

    Returns
    -------
    list of (str, list of str), length `shots`
        Each example's summary and its answer (best first).
    """
    concepts = list(concepts)
    return [(EXAMPLE_SUMMARIES[j].format(concept=concepts[pos]), example_answer(concepts, pos, k))
            for j, pos in enumerate(example_positions(len(concepts), shots))]
