"""The ``score`` stage: score every explanation of a run with the run's own evidence backends."""

from __future__ import annotations

import logging
from typing import Any

from ..progress import ProgressHook
from ..rundir import RunDir

log = logging.getLogger("audiodissect")


def stage_score(run: RunDir, config: Any, *, hook: ProgressHook | None = None,
                audio_text: bool = True) -> list[dict[str, Any]]:
    """Score explanations on the held-out clips (``units/score.jsonl``, ``score/summary.csv``).

    Parameters
    ----------
    run : RunDir
    config : RunConfig
        ``config.identify.text_embedder`` embeds descriptions and explanations;
        ``config.identify.tab_backend`` gives the ``audio_text`` predictor, whose
        clip side is kept in the run's ``cache`` folder.
    hook : ProgressHook, optional
    audio_text : bool
        Also predict with the audio-text backend (needs the probing set's audio).

    Returns
    -------
    list of dict
        The score records.
    """
    from ..text_embedder import load_text_embedder
    from .score import heldout_rows, score_run

    embedder = load_text_embedder(config.identify.text_embedder)
    evidence_fn = None
    if audio_text:
        from ..evidence import is_circular, load_evidence_backend
        from ..pipeline import reopen_probe
        from .audio_text import AudioTextEvidence

        backend = load_evidence_backend(config.identify.tab_backend, device=config.record.device)
        if is_circular(run.stage("record")["model"], backend):
            log.warning("the audio-text predictor's tagger is the dissected model: its scores are circular")
        probe = reopen_probe(run)
        evidence_fn = AudioTextEvidence(backend, probe, heldout_rows(run), cache_dir=run.probe_cache(probe))
    return score_run(run, embedder=embedder, evidence_fn=evidence_fn, hook=hook)
