"""Settings: one typed tree of dataclasses, validated when it is filled in.

The Python API, the command line and config files (TOML or JSON) only fill
this tree in; every default and every allowed range is written here once, in
the field's metadata. The resolved tree is saved as ``config.json`` beside the
results. :func:`validate` checks types and ranges and names the bad setting.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from pathlib import Path
from typing import Any

from .errors import AudioDissectError

#: Every stage of a dissection, in the order they run; ``Dissection.<name>()`` runs one
#: (``-`` read as ``_``), ``Dissection.run()`` and ``audiodissect run`` walk them.
STAGES = ("record", "describe", "identify", "stability", "summarize", "score", "prune", "class-drop", "importance",
          "last-layer", "causal", "analyze", "report")
#: The stages ``audiodissect run`` walks unless told otherwise: all but the feature-importance curves and
#: the causal check (dozens of forward passes with units switched off; ``audiodissect evaluate importance``
#: and ``evaluate causal`` add them).
RUN_STAGES = tuple(name for name in STAGES if name not in ("importance", "causal"))
POOLS = ("mean", "max", "first")


def setting(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, help: Any = "",
            min: float | None = None, max: float | None = None, choices: tuple | None = None) -> Any:
    """A config field with its help text and allowed values (checked by :func:`validate`).

    `help` and `choices` may be callables without arguments, read when needed
    (e.g. a backend registry's accepted forms).
    """
    meta = {"help": help, "min": min, "max": max, "choices": choices}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _similarity_names() -> tuple[str, ...]:
    from .similarity.registry import FUNCTIONS

    return tuple(FUNCTIONS)


def _target_forms() -> str:
    from .targets.specs import TARGETS

    return "target model: " + TARGETS.help()


def _evidence_forms() -> str:
    from .evidence.backends import evidence_forms

    return ", ".join(evidence_forms()) + " (acoustic words measured)"


@dataclasses.dataclass
class ProbeConfig:
    """Which probing set: a name (``soundbank``, ``esc50``, ...), its root and options."""

    name: str = setting("soundbank", help="probing set name")
    root: str | None = setting(None, help="the data set's folder or manifest")
    options: dict[str, Any] = setting(factory=dict, help="the probing set's own options")


@dataclasses.dataclass
class RecordConfig:
    """Which model and layers to record, and how to pool."""

    model: str = setting("demo-cnn", help=_target_forms)
    model_options: dict[str, Any] = setting(factory=dict, help="the model loader's own options (e.g. demo-cnn's "
                                                               "epochs, beats' class_map)")
    layers: list[str] = setting(factory=list, help="module paths or globs, in the order given (empty: defaults)")
    layouts: dict[str, str] = setting(factory=dict, help="declared output layouts by layer path or glob, over the "
                                                         "model's own, e.g. {'encoder.*': 'BTC', 'head': '(BT)C'}: "
                                                         "B the clips, C the units, other letters pooled")
    pool: str = setting("mean", choices=POOLS, help="reduction over time/tokens")
    batch_size: int = setting(32, min=1, help="clips per forward pass")
    shard_size: int = setting(512, min=1, help="clips per recording shard (the unit of resumable, parallel work)")
    device: str | None = setting(None, help="torch device (default: cpu)")
    output_layer: str | None = setting(None, help="the layer whose units are the model's classes "
                                                  "(default: the recorded layer that produces the logits)")
    layer_set: str | None = setting(None, choices=("paper",), help="a named layer set used when no layers are "
                                                                  "given (paper: AST's attention-output, "
                                                                  "intermediate and output dense of every block "
                                                                  "and the classifier; BEATs' fc1 and fc2)")
    window_seconds: float | None = setting(10.0, min=0.1, help="longer clips are recorded in windows of at most "
                                                                "this many seconds (None: whole clips)")
    frames: list[str] = setting(factory=list, help="layers (paths or globs; '*': all with a time axis) whose "
                                                   "activations are also kept frame by frame, with each frame's "
                                                   "time span (empty: pooled only)")
    length_bucket: float | None = setting(None, min=0.001, help="pad each clip at its end to a whole number of "
                                                                "this many seconds so clips of different lengths "
                                                                "share a batch; frame layers drop the padded frames "
                                                                "(None: batch clips of exactly equal length)")


@dataclasses.dataclass
class DescribeConfig:
    """Step 1: one description per clip."""

    captioner: str = setting("tags", help="tags (offline), file:<json>, http:<model>@<url>")
    timeout: float = setting(120.0, min=0.1, help="HTTP captioner: deadline of one request in seconds, its "
                                                  "retries and their waits included")
    concurrency: int = setting(4, min=1, help="HTTP captioner: requests in flight at once")
    retries: int = setting(3, min=0, help="HTTP captioner: extra tries after a retryable failure")
    allow_failures: bool = setting(False, help="accept clips whose caption failed (left empty) instead of ending "
                                               "with an error; a rerun asks them again either way")


@dataclasses.dataclass
class IdentifyConfig:
    """Module A: closed-set concepts by audio-text (TAB) and description (DB) evidence."""

    concepts: str | None = setting(None, help="concept set file, one per line (default: the probing set's)")
    methods: list[str] = setting(factory=lambda: ["tab", "db", "labels"], choices=("tab", "db", "labels"),
                                 help="evidence sources: audio-text (tab), clip descriptions (db), the probe's own "
                                      "labels (labels: 1 on a label's clips; left out when clips have none)")
    similarities: list[str] = setting(factory=lambda: list(_similarity_names()), choices=_similarity_names,
                                      help="similarity functions")
    tab_backend: str = setting("tag-bridge+acoustic", help=_evidence_forms)
    acoustic_concepts: bool = setting(True, help="without a concept file, add the default acoustic words "
                                                  "(audiodissect/data/acoustic_evidence.toml) to the probe labels")
    db_scope: str = setting("all", choices=("all", "topk"),
                            help="DB on hidden layers: all clips, or each unit's top-k clips (the original's)")
    db_topk: int = setting(5, min=1, help="clips per unit when db_scope is topk")
    text_embedder: str = setting("minilm", help="sentence embedder for DB, calibration and scoring")
    top: int = setting(5, min=1, help="concepts kept per unit")
    similarity_variant: str = setting("robust", choices=("robust", "paper"),
                                      help="similarity functions: robust (no per-concept rescaling of the evidence "
                                           "changes a name) or paper (as published)")
    collapse_threshold: float = setting(0.5, min=0.0, max=1.0,
                                        help="flag a layer when one concept names more than this share of its units")
    name_similarity: str = setting("cos", choices=_similarity_names,
                                   help="the similarity function a unit's one name is chosen and tested with")
    permutations: int = setting(99, min=1, help="clip shuffles of the permutation null that tests each name")
    alpha: float = setting(0.05, min=1e-6, max=0.5, help="false discovery rate of the names, per layer and source "
                                                          "(Benjamini-Hochberg)")
    min_z: float = setting(3.0, min=0.0, help="a name is confident when its score lies this many null standard "
                                              "deviations above the permutation null's mean (else: ambiguous)")
    min_margin: float = setting(2.0, min=0.0, help="a name is confident when it beats the runner-up by this margin "
                                                   "(Williams' t for the robust cos; else the gap in null standard "
                                                   "deviations), else it is ambiguous")


@dataclasses.dataclass
class SummarizeConfig:
    """Modules B and C and ICL."""

    llm: str = setting("extractive", help="extractive, llamacpp[:<gguf>], http:<model>@<url>, transformers:<id>")
    k: int = setting(5, min=1, help="top and bottom clips per unit")
    threshold: float = setting(0.75, min=-1.0, max=1.0, help="calibration cosine threshold")
    calibration: str = setting("content", choices=("sentence", "content"),
                               help="Module B: drop S_high sentences close to S_low (sentence, the paper's) or "
                                    "drop only the sources and qualities S_low also names (content)")
    contrastive: bool = setting(True, help="summaries state what the top clips share and the bottom clips lack")
    adjective_filter: str = setting("lexicon", choices=("lexicon", "llm"), help="acoustic-adjective judge")
    icl: bool = setting(True, help="ask the LLM to choose a concept (ICL)")
    icl_shots: int = setting(0, min=0, max=2, help="worked examples in the ICL prompt (the paper: 2)")
    icl_summary: str = setting("calibrated", choices=("calibrated", "high"),
                               help="the summary ICL reads: the calibrated one, or S_high (the paper's raw summary)")
    temperature: float = setting(0.0, min=0.0, max=2.0, help="LLM sampling temperature")
    max_tokens: int = setting(256, min=1, help="LLM answer length limit")
    timeout: float = setting(120.0, min=0.1, help="HTTP LLM: deadline of one request in seconds, its retries "
                                                  "and their waits included")
    concurrency: int = setting(4, min=1, help="HTTP LLM: requests in flight at once (in-process LLMs: 1)")
    retries: int = setting(3, min=0, help="HTTP LLM: extra tries after a retryable failure")
    allow_failures: bool = setting(False, help="accept prompts whose answer failed (their summaries left out) "
                                               "instead of ending with an error; a rerun asks them again either way")


@dataclasses.dataclass
class PruneConfig:
    """Concept-specific pruning (paper Step 4) and the feature-importance curves (Fig. 4).

    The defaults keep ``audiodissect run`` cheap: three classes spread evenly over the
    classes with held-out clips and one random draw each. The paper's full table is
    ``concepts = ["all"]`` with more draws (``audiodissect evaluate pruning --concepts all
    --seeds 3``).
    """

    concepts: list[str] = setting(factory=lambda: ["sample:3"],
                                  help='classes to prune: names, "all", or "sample:N" (N spread evenly)')
    strategies: list[str] = setting(factory=lambda: ["tab", "db", "ocp", "random"],
                                    choices=("tab", "db", "ocp", "random", "units"), help="unit selections")
    units: list[str] = setting(factory=list, help="unit ids (LAYER#INDEX) the 'units' strategy prunes")
    seeds: int = setting(1, min=1, help="random draws per concept, averaged")
    random_count: int | None = setting(None, min=1, help="size of random draws (default: as the other strategy)")
    random_reference: str | None = setting(None, help="strategy whose size random draws copy (default: each)")
    top: int = setting(3, min=1, help="a unit is chosen when the concept is among its top concepts")
    tab_similarity: str = setting("soft_wpmi", choices=_similarity_names, help="similarity ranking TAB's concepts")
    db_similarity: str = setting("cos3", choices=_similarity_names, help="similarity ranking DB's concepts")
    ocp_threshold: float | None = setting(0.7, min=-1.0, max=1.0, help="OCP noun match cosine (None: lemmas)")
    include_output_layer: bool = setting(False, help="let strategies choose the output layer's units")
    skip_unexplained: bool = setting(True, help="tab, db and ocp never choose a unit no evidence explains "
                                                "(its name is 'unexplained')")
    importance_properties: list[str] = setting(
        factory=lambda: ["summary_length", "adjectives", "nouns", "acoustic_adjectives"],
        help="summary properties that rank units (summary_length, adjectives, nouns, acoustic_adjectives, "
             "verbs, prepositions, kept_sentences)")
    importance_fractions: list[float] = setting(factory=lambda: [0.02, 0.04, 0.06, 0.08, 0.10, 0.12],
                                                min=0.0, max=1.0, help="shares of units pruned")
    importance_seeds: int = setting(3, min=1, help="random rankings averaged")


@dataclasses.dataclass
class StabilityConfig:
    """Whether unit names survive resampling of the probing set and noise in the audio."""

    resamples: int = setting(20, min=1, help="bootstrap resamples of the probe clips")
    noise: float = setting(0.02, min=0.0, help="Gaussian noise added to each waveform, times its standard deviation")
    seed: int = setting(0, min=0, help="draws the resamples and the noise")


@dataclasses.dataclass
class CausalConfig:
    """The causal check of unit names: switch a named unit off (and turn it up), compare with random units."""

    units_per_layer: int = setting(4, min=1, help="confidently named units checked per layer (chosen at random)")
    random_units: int = setting(4, min=2, help="random units per layer the checked units are compared with")
    amplify: float = setting(2.0, min=0.0, help="factor a unit's output is scaled by when turned up")
    clips: int = setting(200, min=10, help="held-out clips the model runs on (at most; chosen at random)")
    seed: int = setting(0, min=0, help="draws the units and the clips")


@dataclasses.dataclass
class ScoreConfig:
    """Explanation scoring on held-out clips."""

    audio_text: bool = setting(True, help="also predict from audio-text similarity (needs the clips' audio)")
    bootstrap: int = setting(0, min=0, help="resamples of the held-out clips for each score's interval (0: Bonett "
                                            "and Wright's analytic interval of a Spearman correlation)")
    seed: int = setting(0, min=0, help="draws the bootstrap samples and the random negatives of detection")


@dataclasses.dataclass
class AnalyzeConfig:
    """The paper's analyses: adjective counts and uninterpretable units (paper Figs. 3, 5, 6)."""

    k: int = setting(11, min=1, help="k-means clusters of description sentences")
    kprimes: list[int] = setting(factory=lambda: [3, 4, 5], min=1,
                                 help="a unit is uninterpretable when fewer than K' of its top clips share a cluster")
    top: int = setting(5, min=1, help="top clips per unit for the uninterpretable-unit rule")
    seed: int = setting(0, min=0, help="k-means seed")
    field: str = setting("acoustic_adjectives", choices=("acoustic_adjectives", "adjectives"),
                         help="the summary field counted as adjectives")
    top_adjectives: int = setting(20, min=1, help="bars in the adjective plot")
    rule: str = setting("any", choices=("any", "majority"),
                        help="uninterpretable units: a clip counts in every cluster one of its sentences falls in "
                             "(any: the paper's) or in its majority cluster")


@dataclasses.dataclass
class ReportConfig:
    """The static HTML report."""

    units_per_layer: int = setting(20, min=0, help="unit detail pages per layer, best scored first")
    moments: int = setting(3, min=1, help="top moments per unit (clip and time) that unit pages of frame layers "
                                          "play, and that moments() returns by default")
    snippet_seconds: float = setting(1.0, min=0.05, help="length of the audio snippet around each moment")
    table_limit: int = setting(1000, min=1, help="rows the unit table shows at once (filtering reaches the rest)")


@dataclasses.dataclass
class SaeConfig:
    """Sparse autoencoders (TopK, BatchTopK) trained on a layer's recorded activations, and those attached.

    An attached SAE reads its layer's pooled output; its latents are the units of the
    layer ``sae:<layer>`` (module path ``sae.<layer>``), recorded, named, scored and
    pruned like neurons (see :mod:`audiodissect.sae`).
    """

    architecture: str = setting("topk", choices=("topk", "batchtopk"),
                                help="topk: k latents per row; batchtopk: k per row on average over a batch "
                                     "(saved as JumpReLU with one threshold, as SAELens does)")
    expansion_factor: float = setting(4.0, min=0.01, help="latents per unit of the layer (ignored when d_sae is set)")
    d_sae: int | None = setting(None, min=1, help="number of latents (default: expansion_factor x the layer's units)")
    k: int = setting(8, min=1, help="active latents per row (per row on average for batchtopk)")
    lr: float = setting(1e-3, min=0.0, help="Adam learning rate")
    epochs: int = setting(200, min=1, help="passes over the training rows (ignored when steps is set)")
    steps: int | None = setting(None, min=1, help="optimizer steps (default: epochs x batches per epoch)")
    batch_size: int = setting(256, min=1, help="rows per step, read from the memory-mapped activations")
    seed: int = setting(0, min=0, help="seed of the initialisation, the row order and resampling")
    dead_latents: str = setting("auxk", choices=("auxk", "resample", "none"),
                                help="dead-latent handling: auxk (the top aux_k dead latents learn to reconstruct "
                                     "the error), resample (dead latents are re-initialised towards badly "
                                     "reconstructed rows), none")
    dead_after_epochs: float = setting(1.0, min=0.001, help="a latent is dead when it fired on none of the last "
                                                            "this many epochs' rows")
    aux_k: int | None = setting(None, min=1, help="dead latents in the AuxK loss (default: half the layer's units)")
    aux_coefficient: float = setting(1 / 32, min=0.0, help="weight of the AuxK loss")
    threshold_lr: float = setting(0.01, min=0.0, max=1.0, help="batchtopk: rate of the moving average that sets "
                                                               "the inference threshold")
    unit_decoder: bool = setting(True, help="keep every decoder row at unit norm during training")
    normalize: bool = setting(True, help="train on inputs scaled to a mean squared norm of the unit count; the "
                                         "scale is folded into the saved weights")
    device: str | None = setting(None, help="torch device for training (default: record.device, else cpu)")
    attached: list[str] = setting(factory=list, help="layers whose SAE (the run's sae/<layer>/ files) is attached "
                                                     "to the model, its latents the units of sae:<layer>")


@dataclasses.dataclass
class ExecutorConfig:
    """Where embarrassingly parallel work runs (recording's clip shards): in this process, or on Ray."""

    name: str = setting("local", choices=("local", "ray"), help="where parallel work runs: in this process or on Ray")
    ray_address: str | None = setting(None, help="Ray cluster to join (auto, host:6379, ray://host:10001; an "
                                                 "address that does not answer fails within 10 s, one that is no "
                                                 "Ray cluster within 70 s); none starts Ray on this machine")
    ray_num_cpus: int | None = setting(None, min=1, help="CPUs of a Ray instance started here (default: all)")
    gpus_per_worker: float = setting(0.0, min=0.0, help="GPUs per Ray worker holding a model replica (default 0: "
                                                        "CPU workers)")
    cpus_per_worker: float = setting(1.0, min=0.0, help="CPUs per Ray worker")
    workers: int | None = setting(None, min=1, help="most model replicas at once (default: what the cluster fits)")
    max_retries: int = setting(3, min=0, help="reruns of a work item whose Ray worker died")


@dataclasses.dataclass
class RunConfig:
    """Everything ``audiodissect run`` does."""

    out: str = setting("runs/default", help="run directory")
    probe: ProbeConfig = setting(factory=ProbeConfig)
    record: RecordConfig = setting(factory=RecordConfig)
    describe: DescribeConfig = setting(factory=DescribeConfig)
    identify: IdentifyConfig = setting(factory=IdentifyConfig)
    summarize: SummarizeConfig = setting(factory=SummarizeConfig)
    stability: StabilityConfig = setting(factory=StabilityConfig)
    score: ScoreConfig = setting(factory=ScoreConfig)
    causal: CausalConfig = setting(factory=CausalConfig)
    prune: PruneConfig = setting(factory=PruneConfig)
    analyze: AnalyzeConfig = setting(factory=AnalyzeConfig)
    report: ReportConfig = setting(factory=ReportConfig)
    sae: SaeConfig = setting(factory=SaeConfig)
    executor: ExecutorConfig = setting(factory=ExecutorConfig)
    stages: list[str] = setting(factory=lambda: list(RUN_STAGES), choices=STAGES,
                                help="stages `run` walks, in their fixed order (default: all but importance and causal)")
    preset: str | None = setting(None, choices=("paper",), help="a named set of settings applied first "
                                                                 "(paper: the original AND procedures)")


#: Named settings. ``paper``: the original AND procedures where ours differ (first-token pooling, the
#: paper's layer set for AST and BEATs, DB on each hidden unit's top-5 clips, TAB without measured acoustic
#: evidence and the label set as concepts, summaries of the top clips alone, two-shot ICL on the raw summary,
#: sentence-level calibration at the released code's threshold 0.5). soft-WPMI's published rank weights and
#: the paper's uninterpretable-unit rule are the defaults already.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {
        "record": {"pool": "first", "layer_set": "paper"},
        "identify": {"db_scope": "topk", "db_topk": 5, "tab_backend": "tag-bridge", "acoustic_concepts": False,
                     "similarity_variant": "paper"},
        "summarize": {"icl_shots": 2, "icl_summary": "high", "threshold": 0.5, "calibration": "sentence",
                      "contrastive": False},
    },
}


def apply_preset(config: Any, name: str) -> Any:
    """`config` (a :class:`RunConfig`) with the settings of preset `name` set; returns a new, validated tree."""
    if name not in PRESETS:
        from .errors import unknown_name_error

        raise unknown_name_error("preset", name, PRESETS)
    merged = _merge(config, PRESETS[name])
    merged.preset = name
    return validate(merged)


def to_dict(config: Any) -> dict[str, Any]:
    """The config tree as plain data (what ``config.json`` holds)."""
    return dataclasses.asdict(config)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build dataclass `cls` from a nested dict, validated.

    Settings the dict leaves out keep `cls`'s defaults, also inside nested
    sections (a ``[prune]`` table with one key keeps the run's other pruning
    defaults). Unknown keys are an error naming the valid ones. A ``preset``
    key (:data:`PRESETS`) is applied first, so the dict's other settings win.
    """
    base = cls()
    if isinstance(data, dict) and data.get("preset") and cls is RunConfig:
        base = apply_preset(base, data["preset"])
    return validate(_merge(base, data))


def merge(config: Any, data: dict[str, Any]) -> Any:
    """A copy of `config` with the settings in nested dict `data` laid over it, validated.

    Settings `data` leaves out keep their values in `config`; unknown keys are
    an error naming the valid ones.
    """
    return validate(_merge(config, data))


#: Settings earlier versions saved that no longer exist (their work is done elsewhere now),
#: by section: saved runs that hold them still open.
RETIRED = {"prune": ("importance", "text_embedder", "batch_size", "device"), "summarize": ("refresh_cache",)}


def upgrade_saved(data: dict[str, Any]) -> dict[str, Any]:
    """Settings saved by an earlier version, made readable: retired settings dropped, an empty stage
    list (then: every stage) replaced by the default."""
    data = {key: dict(value) if isinstance(value, dict) else value for key, value in data.items()}
    for section, names in RETIRED.items():
        for name in names:
            if isinstance(data.get(section), dict):
                data[section].pop(name, None)
    if data.get("stages") == []:
        data.pop("stages")
    return data


def _merge(base: Any, data: dict[str, Any], where: str = "") -> Any:
    cls = type(base)
    if not isinstance(data, dict):
        raise AudioDissectError(f"settings of [{where or cls.__name__}] must be a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            from .errors import unknown_name_error

            raise unknown_name_error(f"setting in [{where or 'top level'}]", key, fields)
        current = getattr(base, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            kwargs[key] = _merge(current, value, f"{where}.{key}" if where else key)
        else:
            kwargs[key] = value
    return dataclasses.replace(base, **kwargs)


def _check(value: Any, tp: Any, name: str) -> Any:
    """`value` checked against annotation `tp` (ints accepted for floats); returns the value, converted."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check(value, arg, name)
            except AudioDissectError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise AudioDissectError(f"setting {name} must be a list, got {value!r}")
        (item,) = typing.get_args(tp) or (Any,)
        return [_check(v, item, f"{name}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise AudioDissectError(f"setting {name} must be a table, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AudioDissectError(f"setting {name} must be a number, got {value!r}")
        if not math.isfinite(value):  # JSON and TOML spell them (NaN, inf): no setting means either
            raise AudioDissectError(f"setting {name} must be a finite number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise AudioDissectError(f"setting {name} must be an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise AudioDissectError(f"setting {name} must be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise AudioDissectError(f"setting {name} must be a string, got {value!r}")
        return value
    return value


def _check_range(value: Any, meta: dict[str, Any], name: str) -> None:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if item is None:
            continue
        low, high, choices = meta.get("min"), meta.get("max"), meta.get("choices")
        choices = choices() if callable(choices) else choices
        if choices is not None and item not in choices:
            from .errors import unknown_name_error

            raise unknown_name_error(f"value of setting {name}", str(item), choices)
        if low is not None and isinstance(item, (int, float)) and item < low:
            raise AudioDissectError(f"setting {name} must be at least {low}, got {item!r}")
        if high is not None and isinstance(item, (int, float)) and item > high:
            raise AudioDissectError(f"setting {name} must be at most {high}, got {item!r}")


def validate(config: Any, *, where: str = "") -> Any:
    """Check every field of a config dataclass tree against its type and range; returns `config`.

    Values are converted where that loses nothing (an int where a float is
    expected). Raises :class:`AudioDissectError` naming the first bad setting.
    """
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        name = f"{where}.{f.name}" if where else f.name
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            validate(value, where=name)
            continue
        value = _check(value, hints[f.name], name)
        _check_range(value, dict(f.metadata), name)
        setattr(config, f.name, value)
    return config


def load_config(path: str | os.PathLike) -> RunConfig:
    """Read a TOML (``.toml``) or JSON file into a validated :class:`RunConfig`."""
    path = Path(path)
    if not path.is_file():
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
    try:
        return from_dict(RunConfig, data)
    except AudioDissectError as exc:
        raise AudioDissectError(f"{path}: {exc.message}", hint=exc.hint) from None
