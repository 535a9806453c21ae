"""Small HTML views of results for notebooks (``_repr_html_``): tables and inline audio players.

Every value is escaped by markupsafe (texts come from models, LLMs, file names and labels);
only :class:`markupsafe.Markup` made here (an audio player) is shown as it is;
audio is embedded as a ``data:`` URI of a 16-bit WAV, so a notebook needs no
files and no IPython to play it.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from markupsafe import Markup, escape

#: Rows a notebook view shows before it says how many more there are.
SHOWN_ROWS = 20

_STYLE = ("<style>.ad-view table{border-collapse:collapse;font-size:12px}"
          ".ad-view th,.ad-view td{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}"
          ".ad-view td.num{text-align:right;font-variant-numeric:tabular-nums}"
          ".ad-view caption{text-align:left;font-weight:600;padding:2px 0}"
          ".ad-view audio{height:28px;width:220px}</style>")


def esc(value: Any) -> str:
    """`value` as escaped text (None as an empty string; :class:`~markupsafe.Markup` as it is)."""
    return str(escape("" if value is None else value))


def cell(value: Any) -> str:
    """One table cell: numbers right-aligned with 4 significant digits, NaN as ``-``, lists joined."""
    if isinstance(value, (float, np.floating)):
        text = "-" if math.isnan(float(value)) else f"{float(value):.4g}"
        return f'<td class="num">{text}</td>'
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f'<td class="num">{int(value)}</td>'
    if isinstance(value, (list, tuple)):
        return f"<td>{esc(', '.join(str(v) for v in value))}</td>"
    return f"<td>{esc(value)}</td>"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, *, caption: str | None = None,
          limit: int = SHOWN_ROWS) -> str:
    """An HTML table of the first `limit` of `rows`, with a note of how many were left out."""
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows[:limit] for k in r))
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(r.get(c)) for c in columns) + "</tr>" for r in rows[:limit])
    title = f"<caption>{esc(caption)}</caption>" if caption else ""
    more = f"<p>... and {len(rows) - limit} more rows</p>" if len(rows) > limit else ""
    return f'<div class="ad-view">{_STYLE}<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>' \
           f"{more}</div>"


def fields(pairs: Sequence[tuple[str, Any]], *, caption: str | None = None) -> str:
    """A two-column table of (name, value) pairs."""
    body = "".join(f"<tr><th>{esc(k)}</th>{cell(v)}</tr>" for k, v in pairs)
    title = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<div class="ad-view">{_STYLE}<table>{title}<tbody>{body}</tbody></table></div>'


def wav_bytes(wave: np.ndarray, sample_rate: int) -> bytes:
    """A mono float waveform (T,) as the bytes of a 16-bit PCM WAV file."""
    import soundfile

    buffer = io.BytesIO()
    samples = np.clip(np.nan_to_num(np.asarray(wave, dtype=np.float32).reshape(-1)), -1.0, 1.0)
    soundfile.write(buffer, samples, int(sample_rate), format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def audio_player(wave: np.ndarray, sample_rate: int) -> Markup:
    """An ``<audio controls>`` element that plays `wave` (T,) from a ``data:`` URI (no file, no IPython)."""
    data = base64.b64encode(wav_bytes(wave, sample_rate)).decode("ascii")
    return Markup(f'<audio controls preload="none" src="data:audio/wav;base64,{data}"></audio>')
