"""Settings: one typed tree of dataclasses.

The command line and config files (TOML or JSON) only fill it in; the
resolved tree is saved as ``config.json`` beside the results.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AudioDissectError

if TYPE_CHECKING:
    from .prune.runner import PruneConfig


@dataclasses.dataclass
class ProbeConfig:
    """Which probing set: a name (``soundbank``, ``esc50``, ...), its root and options."""

    name: str = "soundbank"
    root: str | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RecordConfig:
    """Which model and layers to record, and how to pool."""

    model: str = "demo-cnn"
    layers: list[str] = dataclasses.field(default_factory=list)  # empty: the target's defaults
    pool: str = "mean"
    batch_size: int = 32
    device: str | None = None


@dataclasses.dataclass
class IdentifyConfig:
    """Module A: closed-set concepts by audio-text (TAB) and description (DB) evidence."""

    concepts: str | None = None  # None: the probing set's own concept list
    methods: list[str] = dataclasses.field(default_factory=lambda: ["tab", "db"])
    similarities: list[str] = dataclasses.field(
        default_factory=lambda: ["cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi"])
    tab_backend: str = "tag-bridge"  # or "clap" / "clap:<hub id or path>"
    db_scope: str = "all"  # "all" clips, or "topk": each unit's top-k clips (the original's choice)
    db_topk: int = 5
    text_embedder: str = "minilm"
    top: int = 5


@dataclasses.dataclass
class DescribeConfig:
    """Step 1: one description per clip."""

    captioner: str = "tags"  # "tags" (offline tags + descriptors), "file:<json>", "http:<model>@<url>"


@dataclasses.dataclass
class SummarizeConfig:
    """Modules B and C and ICL."""

    llm: str = "extractive"
    k: int = 5
    threshold: float = 0.75  # measured: see audiodissect.summarize.calibration
    adjective_filter: str = "lexicon"  # or "llm"
    icl: bool = True
    temperature: float = 0.0
    max_tokens: int = 256


def run_prune_config() -> PruneConfig:
    """The pruning settings of ``audiodissect run``: the paper's four strategies, kept cheap.

    Three classes spread evenly over the classes with held-out clips
    (``["sample:3"]``, see :func:`audiodissect.prune.runner.resolve_concepts`), one
    random draw per class instead of three, and no feature-importance curves;
    ``audiodissect evaluate pruning`` and ``evaluate importance`` do every
    class, three draws and the curves. Everything else is
    :class:`~audiodissect.prune.runner.PruneConfig`'s default.
    """
    from .prune.runner import PruneConfig

    return PruneConfig(concepts=["sample:3"], seeds=1, importance=False)


@dataclasses.dataclass
class RunConfig:
    """Everything `audiodissect run` does."""

    out: str = "runs/default"
    probe: ProbeConfig = dataclasses.field(default_factory=ProbeConfig)
    record: RecordConfig = dataclasses.field(default_factory=RecordConfig)
    describe: DescribeConfig = dataclasses.field(default_factory=DescribeConfig)
    identify: IdentifyConfig = dataclasses.field(default_factory=IdentifyConfig)
    summarize: SummarizeConfig = dataclasses.field(default_factory=SummarizeConfig)
    prune: PruneConfig = dataclasses.field(default_factory=run_prune_config)
    stages: list[str] = dataclasses.field(default_factory=list)  # empty: every stage


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build dataclass `cls` from a nested dict; unknown keys are an error naming the valid ones.

    Settings the dict leaves out keep `cls`'s defaults, also inside nested
    sections (a ``[prune]`` table with one key keeps the run's other pruning
    defaults).
    """
    return _merge(cls(), data)


def _merge(base: Any, data: dict[str, Any]) -> Any:
    cls = type(base)
    if not isinstance(data, dict):
        raise AudioDissectError(f"settings of [{cls.__name__}] must be a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            from .errors import unknown_name_error

            raise unknown_name_error(f"setting in [{cls.__name__}]", key, fields)
        sub = _dataclass_type(fields[key].type)
        kwargs[key] = _merge(getattr(base, key), value) if sub is not None and isinstance(value, dict) else value
    return dataclasses.replace(base, **kwargs)


def _dataclass_type(ftype: Any) -> type | None:
    from .prune.runner import PruneConfig

    names = {c.__name__: c for c in (ProbeConfig, RecordConfig, IdentifyConfig, DescribeConfig,
                                     SummarizeConfig, PruneConfig, RunConfig)}
    return names.get(ftype if isinstance(ftype, str) else getattr(ftype, "__name__", ""))


def load_config(path: str | os.PathLike) -> RunConfig:
    """Read a TOML (``.toml``) or JSON file into a :class:`RunConfig`."""
    path = Path(path)
    if not path.exists():
        raise AudioDissectError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib  # type: ignore[no-redef]
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        raise AudioDissectError(f"cannot parse config file {path}: {exc}") from None
    return from_dict(RunConfig, data)
