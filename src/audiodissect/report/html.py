"""Small HTML builders. Every piece of data goes through :func:`esc` or :func:`script_json`.

Text from models, LLMs, file names and labels is untrusted: it is escaped
wherever it lands (element text, attribute values, embedded JSON), so a
description such as ``<script>...</script>`` stays inert text.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from .assets import CSS, JS


def esc(value: Any) -> str:
    """Text escaped for element content and quoted attribute values (``& < > " '``)."""
    return html.escape("" if value is None else str(value), quote=True)


def script_json(obj: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: ``<``, ``>``, ``&`` and line separators escaped."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, default=str)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


#: What a table shows for a number that is not there (NaN: e.g. a mean over no clips).
MISSING = "-"


def fmt_number(value: Any, digits: int = 3) -> str:
    """A number with `digits` significant digits; integers as they are; NaN as :data:`MISSING`; other values
    escaped as text."""
    if isinstance(value, bool) or value is None:
        return esc(value) if value is not None else ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.{digits}g}"
    return esc(value)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, *,
          headers: dict[str, str] | None = None, css_class: str = "") -> str:
    """An HTML table of dict rows; numbers right-aligned, lists joined with commas, NaN shown as ``-``.

    The table sits in a ``div.table-wrap`` that scrolls sideways when the table is wider than the page, and
    headers may break after an underscore (``acc_rest_<wbr>before``), so a wide table never widens the page.
    """
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    headers = headers or {}
    numeric = {c for c in columns if rows and all(is_number(r.get(c)) or r.get(c) is None for r in rows)
               and any(is_number(r.get(c)) for r in rows)}
    num = ' class="num"'
    head = "".join(f"<th{num if c in numeric else ''}>{_breakable(headers.get(c, c))}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            if isinstance(v, (list, tuple)):
                text = esc(", ".join(str(x) for x in v))
            elif is_number(v):
                text = fmt_number(v)
            else:
                text = esc(v)
            cells.append(f"<td{num if c in numeric else ''}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = f' class="{esc(css_class)}"' if css_class else ""
    return (f'<div class="table-wrap"><table{cls}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div>")


def _breakable(text: Any) -> str:
    """Escaped `text` with a line-break opportunity after each underscore."""
    return esc(text).replace("_", "_<wbr>")


def facts(items: Iterable[tuple[str, Any]]) -> str:
    """A definition list of (name, value) pairs; values escaped (``None`` values skipped)."""
    parts = [f"<dt>{esc(k)}</dt><dd>{fmt_number(v) if is_number(v) else esc(v)}</dd>"
             for k, v in items if v is not None]
    return f'<dl class="facts">{"".join(parts)}</dl>'


def chips(words: Iterable[Any]) -> str:
    words = [w for w in words if str(w).strip()]
    if not words:
        return '<span class="note">none</span>'
    return '<div class="chips">' + "".join(f"<span>{esc(w)}</span>" for w in words) + "</div>"


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def figure(src: str, caption: str, *, alt: str) -> str:
    return (f'<figure><img src="{esc(src)}" alt="{esc(alt)}" loading="lazy">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def page(title: str, subtitle: str, body: str, *, script: bool = False) -> str:
    """A whole HTML document with the inlined style sheet (and the table script when `script`)."""
    js = f"<script>{JS}</script>" if script else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f'<header class="top"><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>'
            f"{body}{js}</body></html>\n")
