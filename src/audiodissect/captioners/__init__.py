"""Captioners: one natural-language description per clip.

- :class:`FileCaptioner`: descriptions read from a JSON file;
- :class:`HttpAudioCaptioner`: an audio chat model behind an OpenAI-compatible server;
- :func:`describe_cached`: run any captioner with a resumable per-clip cache.
"""

from ..probes.clip_audio import ClipAudio, ProbeClip, probe_clips
from .base import Captioner, Descriptions, describe_cached, read_descriptions
from .from_file import FileCaptioner
from .http_audio import HttpAudioCaptioner

__all__ = [
    "Captioner", "ClipAudio", "Descriptions", "ProbeClip", "describe_cached", "probe_clips",
    "read_descriptions", "FileCaptioner", "HttpAudioCaptioner",
]
