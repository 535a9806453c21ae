"""The report templates' filters and helpers: numbers, table cells, embedded JSON.

The templates render with autoescape on, so these return plain text that the
template escapes, except :func:`script_json`, whose output is made safe for a
``<script>`` element here and marked as such.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup

#: What a table shows for a number that is not there (NaN: e.g. a mean over no clips).
MISSING = "-"


def fmt_number(value: Any, digits: int = 3) -> str:
    """A number as the report shows it.

    Parameters
    ----------
    value : Any
        Integers are shown as they are, floats with `digits` significant
        digits (whole floats as integers), NaN as :data:`MISSING`, None as an
        empty string and anything else as its text.
    digits : int

    Returns
    -------
    str
        Plain text (the template escapes it).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)


def script_json(obj: Any) -> Markup:
    """`obj` as JSON safe inside ``<script type="application/json">``.

    ``<``, ``>``, ``&`` and the line separators U+2028 and U+2029 are written
    as ``\\u`` escapes, so no text in `obj` can close the element or start
    markup; the result is marked safe for the template as it is.

    Returns
    -------
    Markup
    """
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                  .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def is_number(value: Any) -> bool:
    """Whether `value` is an int or a float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_blank(value: Any) -> bool:
    """Whether `value`'s text is empty or whitespace (a chip not shown)."""
    return not str(value).strip()


def cell(value: Any) -> str:
    """A table cell's text: lists joined with commas, numbers by :func:`fmt_number`, None empty."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(x) for x in value)
    if is_number(value):
        return fmt_number(value)
    return "" if value is None else str(value)


def column_names(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every key of `rows`, in the order they first appear."""
    return list(dict.fromkeys(k for r in rows for k in r))


def numeric_columns(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> set[str]:
    """The columns of `rows` that hold numbers only (or nothing), at least one: they are right-aligned."""
    return {c for c in columns if rows and all(is_number(r.get(c)) or r.get(c) is None for r in rows)
            and any(is_number(r.get(c)) for r in rows)}
