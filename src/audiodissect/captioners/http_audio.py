"""Captions from an audio-capable chat model behind an OpenAI-compatible endpoint.

For example Qwen2-Audio-7B-Instruct served by ``vllm serve``, or an OpenAI
audio model. Each clip goes as a base64 16-bit PCM WAV inside the user message.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..cache import hash_key
from ..errors import AudioDissectError
from ..llm.answers import Answers, Completed
from ..llm.http_client import DEFAULT_CONCURRENCY, DEFAULT_RETRIES, DEFAULT_TIMEOUT_S, ChatClient

#: How users set the captioner's options, quoted in error hints.
CAPTIONER_SETTINGS = {
    "timeout": "timeout= (HttpAudioCaptioner) or describe.timeout in a config",
    "concurrency": "concurrency= (HttpAudioCaptioner) or describe.concurrency in a config",
    "retries": "retries= (HttpAudioCaptioner) or describe.retries in a config",
}

#: The default instruction sent with each clip.
DEFAULT_PROMPT = ("Describe this audio clip in one or two sentences: what sound sources you hear, "
                  "and the tone, emotion and acoustic qualities of the sound.")

#: Ways of attaching the audio to the message.
AUDIO_FORMATS = ("input_audio", "audio_url")


def wav_base64(audio: np.ndarray, sample_rate: int) -> str:
    """Base64 text of a 16-bit PCM mono WAV file of `audio` (shape (T,), clipped to [-1, 1])."""
    import soundfile as sf

    samples = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
    buffer = io.BytesIO()
    sf.write(buffer, samples, int(sample_rate), format="WAV", subtype="PCM_16")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def audio_part(audio: np.ndarray, sample_rate: int, *, audio_format: str = "input_audio") -> dict:
    """The message content part carrying one clip.

    ``"input_audio"``: ``{"type": "input_audio", "input_audio": {"data": <b64>, "format": "wav"}}``
    (OpenAI; vLLM accepts it). ``"audio_url"``: ``{"type": "audio_url", "audio_url": {"url":
    "data:audio/wav;base64,<b64>"}}`` (vLLM's own form).
    """
    data = wav_base64(audio, sample_rate)
    if audio_format == "input_audio":
        return {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}
    if audio_format == "audio_url":
        return {"type": "audio_url", "audio_url": {"url": f"data:audio/wav;base64,{data}"}}
    raise AudioDissectError(f"unknown audio_format {audio_format!r}", hint="valid: " + ", ".join(AUDIO_FORMATS))


class HttpAudioCaptioner:
    """Describes each clip by asking an audio chat model over HTTP.

    Parameters
    ----------
    base_url : str
        The API root, e.g. ``http://127.0.0.1:8000/v1``.
    model : str
        The served model name, e.g. ``Qwen/Qwen2-Audio-7B-Instruct``.
    prompt : str
        The instruction sent with each clip.
    system : str, optional
        A system prompt.
    audio_format : {"input_audio", "audio_url"}
        How the WAV is attached (see :func:`audio_part`).
    sample_rate : int, optional
        Resample clips to this rate before sending (e.g. 16000); by default
        each clip goes at its own rate.
    max_seconds : float, optional
        Send at most this many seconds from the start of each clip.
    temperature, max_tokens, seed
        Generation parameters (None: the server's default).
    timeout : float
        Deadline of one request (connect, send, whole answer), in seconds; 120 by default.
    concurrency : int
        Clips in flight at once (4 by default).
    retries : int
        Extra tries after connection errors, HTTP 5xx/408/429 and unusable
        answers; deadline hits and other 4xx fail at once.
    api_key_env, backoff
        As for :class:`~audiodissect.llm.http.HttpLLM`.
    max_concurrency : int, optional
        Older name of `concurrency`.

    Notes
    -----
    :meth:`describe` returns :class:`~audiodissect.llm.answers.Answers`:
    one description per clip, ``None`` where the answers stayed unusable
    (empty, null, not JSON) after the retries, the reason in ``.errors``.
    """

    def __init__(self, base_url: str, model: str, *, prompt: str = DEFAULT_PROMPT, system: str | None = None,
                 audio_format: str = "input_audio", sample_rate: int | None = None,
                 max_seconds: float | None = None, temperature: float | None = 0.0,
                 max_tokens: int | None = 200, seed: int | None = None,
                 api_key_env: str | None = "OPENAI_API_KEY", timeout: float = DEFAULT_TIMEOUT_S,
                 concurrency: int = DEFAULT_CONCURRENCY, retries: int = DEFAULT_RETRIES, backoff: float = 1.0,
                 max_concurrency: int | None = None):
        if audio_format not in AUDIO_FORMATS:
            raise AudioDissectError(f"unknown audio_format {audio_format!r}",
                                    hint="valid: " + ", ".join(AUDIO_FORMATS))
        self.client = ChatClient(base_url=base_url, model=model, api_key_env=api_key_env, timeout=timeout,
                                 concurrency=concurrency, max_concurrency=max_concurrency, retries=retries,
                                 backoff=backoff, settings=CAPTIONER_SETTINGS)
        self.prompt = prompt
        self.system = system
        self.audio_format = audio_format
        self.sample_rate = sample_rate
        self.max_seconds = max_seconds
        self.params = {"temperature": temperature, "max_tokens": max_tokens, "seed": seed}
        settings = [prompt, system, audio_format, sample_rate, max_seconds, self.params]
        self.name = f"http-audio:{model}:{hash_key(*settings)[:12]}"

    def _samples(self, clip: Any) -> tuple[np.ndarray, int]:
        audio = np.asarray(clip.audio, dtype=np.float32).reshape(-1)
        rate = int(clip.sample_rate)
        if self.sample_rate is not None and self.sample_rate != rate:
            from math import gcd

            from scipy.signal import resample_poly

            g = gcd(self.sample_rate, rate)
            audio = resample_poly(audio, self.sample_rate // g, rate // g).astype(np.float32)
            rate = self.sample_rate
        if self.max_seconds is not None:
            audio = audio[: int(round(self.max_seconds * rate))]
        if audio.size == 0:
            raise AudioDissectError(f"clip {clip.id!r} has no audio to describe")
        return audio, rate

    def messages(self, clip: Any) -> list[dict]:
        """The chat for one clip: optional system message, then the prompt and the audio."""
        audio, rate = self._samples(clip)
        content = [{"type": "text", "text": self.prompt},
                   audio_part(audio, rate, audio_format=self.audio_format)]
        messages: list[dict] = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": content})
        return messages

    @property
    def concurrency(self) -> int:
        """Clips in flight at once."""
        return self.client.concurrency

    def describe_iter(self, clips: Sequence[Any]) -> Iterator[Completed]:
        """Describe clips, :attr:`concurrency` at a time; yield each description as it arrives.

        Each clip's WAV is encoded only when its request is sent.

        Yields
        ------
        Completed
            ``(index, text, None)`` or ``(index, None, reason)``, in the order answers arrive.
        """
        return self.client.chat_iter(clips, build=self.messages, **self.params)

    def describe(self, clips: Sequence[Any]) -> Answers:
        """One description per clip, in order (``None`` where it failed)."""
        return Answers.from_completed(len(clips), self.describe_iter(clips))

    def __repr__(self) -> str:
        return f"HttpAudioCaptioner(base_url={self.client.base_url!r}, model={self.client.model!r})"
