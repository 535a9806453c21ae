"""The default layers of the built-in targets and their unit counts: what ``audiodissect run --help`` and
``audiodissect record --help`` show, so that nobody records 28 layers and 11,465 units without knowing it.

The table lives in the package data (``audiodissect/data/default_layers.json``) so that ``--help`` reads it
without importing torch or loading a model; :mod:`audiodissect.record.layer_table` generates it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TABLE = Path(__file__).resolve().parent / "data" / "default_layers.json"


def read(path: Path = TABLE) -> dict[str, Any]:
    """The table from the package data (empty when the file is missing)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and "layers" in v}


def help_text(table: dict[str, Any] | None = None, *, shown: int = 3) -> str:
    """A few lines for ``--help``: each built-in target's default layers and units."""
    table = read() if table is None else table
    if not table:
        return ""
    lines = ["default layers when --layers is not given (built-in models; hf: and beats: models: their Linear "
             "and Conv layers, or BEATs' fc1/fc2 and head):"]
    for name, entry in table.items():
        layers = entry["layers"]
        items = list(layers.items())
        listed = ", ".join(f"{path} ({units})" for path, units in items[:shown])
        more = f", ... {items[-1][0]} ({items[-1][1]})" if len(items) > shown else ""
        lines.append(f"  {name}: {len(layers)} layers, {entry['units']:,} units: {listed}{more}")
    lines.append("  each unit costs one summary prompt or more: name fewer layers with --layers for a quick look")
    return "\n".join(lines)
