"""The captioners by spec: ``tags`` (offline default), ``file:<json>``, ``http:<model>@<base url>``.

Each factory takes the probing set the captioner describes:
``factory([argument, ]probe, cache_dir=..., timeout=..., concurrency=..., retries=...)``,
and reads only the options it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..cache import hash_file
from ..probes.base import ProbeSet
from ..probes.clip_audio import probe_clips
from ..registry import Registry


def _tags(probe: ProbeSet, *, cache_dir: Path | None = None, **_: Any) -> Any:
    from .tags_descriptors import TagsDescriptorsCaptioner

    captioner = TagsDescriptorsCaptioner(cache_dir=cache_dir)
    captioner.calibrate(probe_clips(probe))  # z-scores over the whole probing set
    return captioner


def _file(path: str, probe: ProbeSet, **_: Any) -> Any:
    from .from_file import FileCaptioner

    captioner = FileCaptioner(path)
    captioner.require(probe_clips(probe))  # counted over every clip, before anything is described
    return captioner


def _http(target: str, probe: ProbeSet, *, cache_dir: Path | None = None, **http: Any) -> Any:
    from .http_audio import HttpAudioCaptioner

    model, _, url = target.rpartition("@")
    return HttpAudioCaptioner(url, model, **http)


def _http_reach(target: str) -> str:
    return (f"sends every clip's audio (and the API key in $OPENAI_API_KEY, when set) to "
            f"{target.rpartition('@')[2]}")


#: The captioners by spec. ``CAPTIONERS.register(name, factory)`` adds one (see the module's docstring
#: for the factory's arguments); ``reads_file=True`` makes the file its argument names part of the cache key,
#: ``reach`` says what it does outside this process (:meth:`~audiodissect.registry.Registry.reach`).
CAPTIONERS: Registry[Any] = Registry("captioner")
CAPTIONERS.register("tags", _tags)
CAPTIONERS.register("file", _file, argument="<json>", reads_file=True)
CAPTIONERS.register("http", _http, argument="<model>@<base url>", check=lambda target: "@" in target,
                    reach=_http_reach)


def load_captioner(spec: str, probe: ProbeSet, *, cache_dir: Path | None = None, **http: Any) -> Any:
    """A captioner from its spec: ``tags`` (offline default), ``file:<json>``, ``http:<model>@<url>``.

    ``tags`` keeps its tag logits in `cache_dir` (the probing set's shared
    cache), where the tag bridge finds them. `http` (``timeout``,
    ``concurrency``, ``retries``) goes to the HTTP captioner.

    Raises
    ------
    AudioDissectError
        For an unknown or malformed spec (the message lists the accepted forms).
    """
    return CAPTIONERS.build(spec, probe, cache_dir=cache_dir, **http)


def captioner_reach(spec: str) -> str | None:
    """What the captioner of `spec` does outside this process (None: nothing)."""
    return CAPTIONERS.reach(spec)


def check_captioner_spec(spec: str) -> None:
    """Refuse a malformed captioner spec before any work is done."""
    CAPTIONERS.check(spec)


def source_digest(spec: str) -> str | None:
    """A digest of the file a captioner spec reads (``file:<json>``), None for other specs or a missing file."""
    parsed = CAPTIONERS.parse(spec)
    source = Path(parsed.argument) if parsed.entry.meta.get("reads_file") and parsed.argument else None
    return hash_file(source) if source is not None and source.is_file() else None
