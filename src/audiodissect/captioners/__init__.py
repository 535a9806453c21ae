"""Captioners: one natural-language description per clip.

- :class:`FileCaptioner`: descriptions read from a JSON file;
- :class:`HttpAudioCaptioner`: an audio chat model behind an OpenAI-compatible server;
- :func:`describe_cached`: run any captioner with a resumable per-clip cache;
- :func:`load_captioner`: a captioner from its spec (:data:`CAPTIONERS`).
"""

from ..probes.clip_audio import ClipAudio, ProbeClip, probe_clips
from .base import Captioner, Descriptions, describe_cached, read_descriptions
from .from_file import FileCaptioner
from .http_audio import HttpAudioCaptioner
from .specs import CAPTIONERS, check_captioner_spec, load_captioner

__all__ = [
    "CAPTIONERS", "Captioner", "ClipAudio", "Descriptions", "ProbeClip", "describe_cached", "probe_clips",
    "read_descriptions", "FileCaptioner", "HttpAudioCaptioner", "check_captioner_spec", "load_captioner",
]
