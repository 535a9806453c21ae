"""Reopening the probing set a run was recorded on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import AudioDissectError
from .base import ProbeSet, SubsetProbe


def reopen_probe(spec: dict[str, Any], clip_ids: Sequence[str]) -> ProbeSet:
    """The probing set rebuilt from its `spec`, checked to hold the clips `clip_ids` in that order (and cut to
    them when the recording left some of its clips out).

    Parameters
    ----------
    spec : dict
        :attr:`ProbeSet.spec <audiodissect.probes.base.ProbeSet.spec>` as the run stored it.
    clip_ids : sequence of str
        The run's clips, in recording order.

    Raises
    ------
    AudioDissectError
        When the set was made in memory (pass it again), or its clips changed.
    """
    from . import load_probe

    spec = dict(spec)
    if spec.get("name") in (None, "memory") or spec.get("in_memory"):
        raise AudioDissectError("the run was recorded on clips held in memory, which cannot be reopened from disk",
                                hint="pass the same clips again (probe=...) when opening the run")
    probe = load_probe(**spec)
    position = {c.id: i for i, c in enumerate(probe.clips)}
    keep = [position.get(i) for i in clip_ids]
    if None in keep or keep != sorted(keep):
        raise AudioDissectError(f"the probing set {spec.get('name')!r} changed since the run was recorded",
                                hint="record again, or pass the original clips (probe=...)")
    # the run's clips in order; fewer when the recording left some out (non-finite values)
    return probe if len(keep) == len(probe.clips) else SubsetProbe(probe, keep)
