"""Decoding one clip from a file or from bytes, with the checks every probing set applies.

libsndfile reads a WAV file whose header declares more frames than the file
holds without complaint, returning the frames that are there. A probing set
must not use such a clip silently short, so :func:`read_clip` compares the
frames it read with the frames the header declares (the ``data`` chunk's size
for WAV, libsndfile's count for the other formats) and rejects the clip when
fewer came back.
"""

from __future__ import annotations

import io
import os
import re
import struct
from typing import BinaryIO

import numpy as np

from ..audio import BadClipError, check_clip, to_mono

#: ``data`` chunk sizes that streaming writers leave when the length is unknown.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)
#: Formats whose header gives libsndfile an exact frame count (MP3's is an estimate).
_EXACT_COUNT_FORMATS = ("FLAC", "OGG")


def _is_bytes(source: object) -> bool:
    return isinstance(source, (bytes, bytearray, memoryview))


def _label(source: str | os.PathLike | bytes, name: str | None) -> str:
    if name is not None:
        return name
    return "<bytes>" if _is_bytes(source) else os.fspath(source)


def wav_declared_frames(stream: BinaryIO) -> int | None:
    """The frame count a RIFF/WAVE header declares, or None when it declares none.

    Walks the chunks from the start of `stream` (restoring its position) to
    the ``fmt `` chunk's block alignment and the ``data`` chunk's size.

    Parameters
    ----------
    stream : binary file object, seekable

    Returns
    -------
    int or None
        ``data size // block align``; None for a stream that is not RIFF/WAVE
        (RF64, Wave64 and other formats included), lacks either chunk, or
        whose writer left the size unknown.
    """
    start = stream.tell()
    try:
        stream.seek(0)
        head = stream.read(12)
        if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RIFX"):
            return None
        order = "<" if head[:4] == b"RIFF" else ">"
        block_align = None
        while True:
            chunk = stream.read(8)
            if len(chunk) < 8:
                return None
            kind, size = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
            if kind == b"fmt ":
                fmt = stream.read(min(size, 16))
                if len(fmt) < 14:
                    return None
                block_align = struct.unpack(order + "H", fmt[12:14])[0]
                stream.seek(size - len(fmt) + (size & 1), io.SEEK_CUR)
            elif kind == b"data":
                if block_align in (None, 0) or size in _UNKNOWN_SIZES:
                    return None
                return size // block_align
            else:
                stream.seek(size + (size & 1), io.SEEK_CUR)
    finally:
        stream.seek(start)


def _decode(source: str | bytes) -> tuple[np.ndarray, int, int | None]:
    """(audio (T,) or (T, channels) float32, rate, frames declared) from a path or bytes."""
    import soundfile as sf

    if isinstance(source, bytes):
        declared = wav_declared_frames(io.BytesIO(source))
        opened = sf.SoundFile(io.BytesIO(source))
    else:
        with open(source, "rb") as stream:
            declared = wav_declared_frames(stream)
        opened = sf.SoundFile(source)
    with opened as f:
        if declared is None and f.format in _EXACT_COUNT_FORMATS and f.frames > 0:
            declared = int(f.frames)
        data = f.read(dtype="float32", always_2d=False)
        rate = int(f.samplerate)
    return data, rate, declared


def read_clip(source: str | os.PathLike | bytes, *, name: str | None = None) -> tuple[np.ndarray, int]:
    """Decode and check one clip.

    Parameters
    ----------
    source : path-like or bytes
        An audio file (wav, flac, ogg, mp3: whatever libsndfile reads) or its bytes.
    name : str, optional
        How messages name the clip; the path by default, ``"<bytes>"`` for bytes.

    Returns
    -------
    audio : np.ndarray, shape (T,), float32
        Mixed to mono.
    rate : int

    Raises
    ------
    BadClipError
        When the clip cannot be decoded, holds fewer frames than its header
        declares, or is empty, silent or not finite; the message starts with
        ``"<name>: "`` and then gives the reason.
    """
    label = _label(source, name)
    try:
        data, rate, declared = _decode(bytes(source) if _is_bytes(source) else os.fspath(source))
    except Exception as exc:  # libsndfile and the file system raise several types for broken files
        detail = re.sub(r"Error opening <[^>]*>: ", "", str(exc))
        raise BadClipError(f"{label}: cannot decode audio ({detail})") from None
    frames = int(data.shape[0])
    if declared is not None and frames < declared:
        raise BadClipError(f"{label}: truncated: the header declares {declared} frames, the file holds {frames}")
    return check_clip(to_mono(data, source=label), source=label), rate


def clip_problem(source: str | os.PathLike | bytes, *, name: str | None = None) -> str | None:
    """None if `source` decodes as usable audio, else the reason (without the name) it does not."""
    if not _is_bytes(source) and not os.path.isfile(os.fspath(source)):
        return "file not found"
    try:
        read_clip(source, name=name)
    except BadClipError as exc:
        prefix = f"{_label(source, name)}: "
        return exc.message[len(prefix):] if exc.message.startswith(prefix) else exc.message
    return None
