"""The Jinja2 environment of the report: templates from the package, every value autoescaped.

Text from models, LLMs, file names and labels is untrusted: the templates
render with autoescape on, so a description such as ``<script>...</script>``
stays inert text wherever it lands (element text, attribute values); data for
scripts goes through the ``script_json`` filter. Only HTML that these templates
rendered themselves is passed back in as :class:`~markupsafe.Markup`.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from markupsafe import Markup

from .filters import cell, column_names, fmt_number, is_blank, numeric_columns, script_json


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The report's Jinja2 environment, made once.

    Templates come from ``templates/`` of this package; autoescape is on, an
    undefined name is an error and None prints as nothing.
    """
    env = jinja2.Environment(loader=jinja2.PackageLoader("audiodissect.report", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, finalize=_none_as_empty)
    env.filters.update(number=fmt_number, cell=cell, script_json=script_json)
    env.tests["blank"] = is_blank
    env.globals.update(column_names=column_names, numeric_columns=numeric_columns)
    return env


def _none_as_empty(value: Any) -> Any:
    """What a ``{{ value }}`` prints: None as nothing, anything else as it is (then escaped)."""
    return "" if value is None else value


def render(name: str, **context: Any) -> Markup:
    """Template `name` rendered with `context`.

    Returns
    -------
    Markup
        The rendered HTML, marked safe so that another template can embed it
        unescaped (it is this package's own template output).
    """
    return Markup(environment().get_template(name).render(**context))
