"""The front door: :class:`Dissection`, one object per run directory, with a method per stage.

>>> import audiodissect as ad
>>> d = ad.Dissection("demo-cnn", probe="soundbank", out="runs/demo")      # doctest: +SKIP
>>> acts = d.record(layers=["features.conv2", "classifier"])               # doctest: +SKIP
>>> acts["features.conv2"].shape                                          # doctest: +SKIP
(2006, 32)
>>> d.identify().to_pandas().head()                                        # doctest: +SKIP

Every method runs one stage through the same runner as ``audiodissect run``:
a stage whose inputs, settings and code are unchanged is not recomputed,
and an interrupted stage resumes.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .allocator import tune_allocator
from .config import STAGES, RunConfig, apply_preset, from_dict, merge, to_dict, upgrade_saved, validate
from .errors import AudioDissectError, IncompleteStageError, WriteError
from .probes.base import HELDOUT, PROBE, ArrayProbeSet, ClipInfo, ProbeSet
from .progress import ProgressHook, default_hook
from .results import (Activations, Analyses, Descriptions, Identification, PruneResult, TopClips, UnitActivations,
                      UnitRecords, output_unit_classes)
from .rundir import CONFIG, MANIFEST, TARGET, RunDir
from .stage import Context, Runner, Stage, StageOutcome, check_stage_names
from .arguments import check_arguments, check_layouts
from .trust import Trust, given_paths, setting_paths

if TYPE_CHECKING:  # torch: imported where a model is built, not to reopen a run or read its results
    from .targets.base import Target

log = logging.getLogger("audiodissect")


def clips(waveforms: Sequence[np.ndarray], *, sample_rate: int, labels: Sequence[str | None] | None = None,
          ids: Sequence[str] | None = None, splits: Sequence[str] | None = None, heldout_fraction: float = 0.2,
          seed: int = 0, name: str = "memory") -> ProbeSet:
    """A probing set from clips held in memory.

    Parameters
    ----------
    waveforms : sequence of np.ndarray, each (T_i,)
        Mono audio, float.
    sample_rate : int
        Hz, of every waveform.
    labels : sequence of str, optional
        One class name per clip.
    ids : sequence of str, optional
        Unique clip ids (default ``clip00000``, ...).
    splits : sequence of {"probe", "heldout"}, optional
        Default: about `heldout_fraction` of each label's clips held out, evenly over
        their order (:func:`audiodissect.probes.splits.numbered_split`, the soundbank's rule).
    heldout_fraction : float
    seed : int

    Returns
    -------
    ProbeSet

    Examples
    --------
    >>> import numpy as np, audiodissect as ad
    >>> rng = np.random.default_rng(0)
    >>> probe = ad.clips([rng.normal(size=16000) for _ in range(10)], sample_rate=16000,
    ...                  labels=["noise"] * 5 + ["hum"] * 5)
    >>> len(probe), sorted(set(probe.labels))
    (10, ['hum', 'noise'])
    """
    waves = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waveforms]
    n = len(waves)
    if n == 0:
        raise AudioDissectError("no clips given")
    if int(sample_rate) <= 0:
        raise AudioDissectError(f"sample_rate must be positive, got {sample_rate}")
    labels = list(labels) if labels is not None else [None] * n
    ids = list(ids) if ids is not None else [f"clip{i:05d}" for i in range(n)]
    for what, values in (("labels", labels), ("ids", ids)):
        if len(values) != n:
            raise AudioDissectError(f"{len(values)} {what} for {n} waveforms")
    if len(set(ids)) != n:
        raise AudioDissectError("clip ids must be unique")
    if splits is None:  # the soundbank's rule: each label's clips, numbered in order, held out evenly
        from .probes.splits import numbered_split

        counts: dict[Any, int] = {}
        numbers = []
        for label in labels:
            numbers.append(counts.get(label, 0))
            counts[label] = numbers[-1] + 1
        splits = numbered_split(labels, numbers, seed=seed, fraction=heldout_fraction)
    splits = list(splits)
    if len(splits) != n or any(s not in (PROBE, HELDOUT) for s in splits):
        raise AudioDissectError(f"splits must be {n} values, each {PROBE!r} or {HELDOUT!r}")
    if PROBE not in splits:
        raise AudioDissectError("every clip is held out: no clip is left to describe units",
                                hint="mark some clips 'probe' (or lower heldout_fraction)")
    infos = [ClipInfo(id=str(i), label=None if lab is None else str(lab), split=s)
             for i, lab, s in zip(ids, labels, splits)]
    return ArrayProbeSet(name=name, clips=infos, audio=waves, sample_rate=int(sample_rate),
                         spec={"name": name, "in_memory": True})


def _import_factory(path: str) -> Callable[[], Any]:
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise AudioDissectError(f"bad factory {path!r}", hint="write 'package.module:function'")
    try:
        obj = importlib.import_module(module)
    except ImportError as exc:
        raise AudioDissectError(f"cannot import {module!r} for the model factory {path!r}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AudioDissectError(f"{module!r} has no {attr!r} (the model factory {path!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise AudioDissectError(f"the model factory {path!r} is not callable")
    return obj


def _as_target(obj: Any, *, sample_rate: int | None, preprocess: Callable | None, forward: Callable | None,
               class_names: Sequence[str] | None, layouts: dict[str, str] | None, name: str | None,
               output_layout: str | None = None, min_samples: int | None = None) -> Target:
    import torch

    from .layers import SCRIPTED_HINT
    from .targets import from_module
    from .targets.base import Target

    if isinstance(obj, Target):
        return obj
    if isinstance(obj, torch.jit.ScriptModule):
        raise AudioDissectError("TorchScript modules cannot be dissected: forward hooks do not run inside them",
                                hint=SCRIPTED_HINT)
    if isinstance(obj, torch.nn.Module):
        if sample_rate is None or preprocess is None:
            raise AudioDissectError("a torch module needs sample_rate= and preprocess= (waveforms -> model input)",
                                    hint="e.g. Dissection(model, sample_rate=16000, preprocess=my_log_mel, ...)")
        options: dict[str, Any] = {"sample_rate": sample_rate, "preprocess": preprocess,
                                   "class_names": class_names, "name": name or "custom"}
        if forward is not None:
            options["forward"] = forward
        if layouts is not None:
            options["layouts"] = layouts
        if output_layout is not None:
            options["output_layout"] = output_layout
        if min_samples is not None:
            options["min_samples"] = min_samples
        return from_module(obj, **options)
    raise AudioDissectError(f"cannot dissect a {type(obj).__name__}",
                            hint="pass a model name (demo-cnn, yamnet, hf:<id>, beats:<file>), a torch module, "
                                 "or an audiodissect Target")


def _check_device(device: str | None) -> None:
    if device is None:
        return
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise AudioDissectError(f"unknown torch device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AudioDissectError(f"device {device!r} was asked for, but this torch has no CUDA device",
                                hint="drop --device (CPU), or install the torch build for your GPU")


class Dissection:
    """One dissection: a model, a probing set and the run directory that holds the results.

    Parameters
    ----------
    target : str, torch.nn.Module or Target
        A built-in name (``"demo-cnn"``, ``"yamnet"``), ``"hf:<id or path>"``,
        ``"beats:<checkpoint>"``, your own ``nn.Module`` (with `sample_rate`
        and `preprocess`), or a :class:`~audiodissect.targets.Target`.
    probe : str, path, or ProbeSet
        A probing-set name (``"soundbank"``, ``"esc50"``, ...), a folder of
        ``<label>/*.wav`` files, or clips in memory (:func:`clips`).
    out : path, optional
        The run directory (default ``runs/default``, or the config's ``out``).
    sample_rate, preprocess, forward, class_names, layouts, output_layout, min_samples
        For an ``nn.Module`` target: its rate in Hz, ``preprocess(list of (T_i,)
        waveforms) -> model input``, optionally ``forward(module, inputs) ->
        logits``, the class names in logit order, per-layer layouts, the layout of
        the forward's output when it is not (clips, classes) (e.g. ``"(BT)C"``
        for frame-wise scores) and the fewest samples the model takes (see
        :func:`audiodissect.targets.from_module`, which takes the same).
    factory : str, optional
        ``"package.module:function"`` returning the target (a Target or, with the
        arguments above, an nn.Module); stored in the run, so the run can be
        reopened in another process without passing the model again.
    probe_root : str, optional
        The data set's folder or manifest for named probing sets.
    probe_options : dict, optional
        The probing set's own options (``clips_per_label``, ``heldout_folds``, ...).
    config : RunConfig or dict, optional
        Settings; fields left out keep their defaults.
    preset : {"paper"}, optional
        Named settings applied to `config` first (:data:`audiodissect.config.PRESETS`):
        ``"paper"`` follows the original AND procedures.
    device : str, optional
        Torch device for the model (``"cuda"``).
    hook : ProgressHook, optional
        Progress reporting; default: tqdm bars on a terminal.
    echo : callable, optional
        Receives one line per stage and the tables ``run`` prints (default: nothing).

    Notes
    -----
    Everything given here is the caller's own: a dissection created this way
    follows its settings wherever they point (a URL, a hub id, a factory).
    A run reopened from disk (:meth:`open`) does not, unless told so.

    On Linux with glibc, making one sets the process's memory allocator for
    torch's large CPU tensors (:func:`audiodissect.allocator.tune_allocator`:
    forward passes up to twice as fast; ``AUDIODISSECT_MALLOC_TUNING=0`` turns
    it off).

    Examples
    --------
    >>> import torch, audiodissect as ad                                     # doctest: +SKIP
    >>> d = ad.Dissection(my_cnn, probe="soundbank", out="runs/mine",        # doctest: +SKIP
    ...                   sample_rate=16000, preprocess=log_mel, class_names=labels)
    >>> d.record(layers=["conv1", "conv2", "head"])["conv2"].shape         # doctest: +SKIP
    (2006, 32)
    """

    def __init__(self, target: Any = None, probe: Any = None, out: str | os.PathLike | None = None, *,
                 sample_rate: int | None = None, preprocess: Callable | None = None,
                 forward: Callable | None = None, class_names: Sequence[str] | None = None,
                 layouts: dict[str, str] | None = None, output_layout: str | None = None,
                 min_samples: int | None = None, factory: str | None = None,
                 probe_root: str | None = None, probe_options: dict[str, Any] | None = None,
                 config: RunConfig | dict[str, Any] | None = None, preset: str | None = None,
                 device: str | None = None,
                 hook: ProgressHook | None = None, echo: Callable[[str], None] | None = None,
                 _create: bool = True, _trust: Trust | None = None):
        check_arguments(probe=probe, out=out, config=config, factory=factory, layouts=layouts,
                        sample_rate=sample_rate, preprocess=preprocess, forward=forward,
                        output_layout=output_layout, min_samples=min_samples)
        if not (target is None or isinstance(target, (str, _MissingModule)) or _is_model(target)):
            raise AudioDissectError(f"cannot dissect a {type(target).__name__}",
                                    hint="pass a model name (demo-cnn, yamnet, hf:<id>, beats:<file>), a torch "
                                         "module, or an audiodissect Target")
        config = from_dict(RunConfig, config) if isinstance(config, dict) else (config or RunConfig())
        config = copy.deepcopy(config)  # the caller's object is never changed
        if preset is not None:
            config = apply_preset(config, preset)
        if out is not None:
            config.out = str(out)
        if device is not None:
            config.record.device = device
        if isinstance(target, str) and not factory:
            config.record.model = target
        if layouts:
            config.record.layouts.update(layouts)
        if isinstance(probe, (str, os.PathLike)):
            name = str(probe)
            if Path(name).is_dir() and name not in _probe_names():
                config.probe.name, config.probe.root = "folder", name
            else:
                config.probe.name = name
        if probe_root is not None:
            config.probe.root = probe_root
        if probe_options:
            config.probe.options.update(probe_options)
        self.config = validate(config)
        _check_device(self.config.record.device)
        self.run_dir = RunDir(self.config.out, create=_create)
        self.hook = hook or default_hook()
        self.echo = echo or (lambda line: None)
        self._factory = factory
        self._target_arg = target
        self._target_options = {"sample_rate": sample_rate, "preprocess": preprocess, "forward": forward,
                                "class_names": class_names, "layouts": layouts, "output_layout": output_layout,
                                "min_samples": min_samples}
        self._probe_arg = probe if isinstance(probe, ProbeSet) else None
        if target is None and factory is None:
            self._target_arg = self.config.record.model
        if factory is not None and isinstance(target, str):
            self._target_arg = None
        if isinstance(self._target_arg, str):
            from .targets.specs import check_target_spec

            check_target_spec(self._target_arg)  # a typo fails before any data is generated
        self.trust = _trust if _trust is not None else Trust()
        tune_allocator()
        self.context = Context(self.run_dir, self.config, target_source=self._open_target,
                               probe_source=self._open_probe, hook=self.hook, echo=self.echo, trust=self.trust)
        self.runner = Runner(self.run_dir, echo=self.echo)

    # -- opening ---------------------------------------------------------------
    @classmethod
    def open(cls, run_dir: str | os.PathLike, target: Any = None, probe: Any = None, *,
             settings: dict[str, Any] | None = None, trust: bool = False, **options: Any) -> Dissection:
        """Reopen a run directory written before, with its saved settings.

        A run directory is data (it may come from anyone): its saved settings
        are used, but one that reaches outside this process (a model factory to
        import, an LLM or captioner URL, a hub id to download, a Ray cluster to
        join) is refused when a stage would follow it, naming the file and the
        setting, unless you give that setting yourself (`settings`, `target`,
        `probe`, ``factory=``, a method's argument) or pass ``trust=True``
        (:mod:`audiodissect.trust`). Results that exist are read either way.

        Parameters
        ----------
        run_dir : path
        target : optional
            The model, when the run was made from a Python module without a
            factory (the same arguments as the constructor's apply).
        probe : ProbeSet, optional
            The clips, when the run was recorded on clips held in memory.
        settings : dict, optional
            Settings laid over the saved ones, as a nested dict
            (``{"summarize": {"llm": "http:..."}}``); these are your own.
        trust : bool
            Follow the run's saved settings wherever they point, as if you had
            given them (only for a run whose author you trust).
        **options
            Constructor keywords (``sample_rate``, ``preprocess``, ``device``, ``factory``, ...).

        Raises
        ------
        AudioDissectError
            When `run_dir` is not a run directory, or the model is needed and
            cannot be rebuilt (then the message says what to pass).
        """
        if not isinstance(run_dir, (str, os.PathLike)):
            raise AudioDissectError(f"the run directory must be a path, got {type(run_dir).__name__} {run_dir!r}")
        run = RunDir(run_dir, create=False)
        saved = upgrade_saved(run.read_config() or {})
        config = from_dict(RunConfig, saved)
        config.out = str(run.path)
        record = run.manifest()["stages"].get("record")
        if record is not None:  # what was recorded, whatever the saved settings say
            spec = dict(record["probe"])
            config.record.model, config.record.pool = record["model"], record["pool"]
            config.record.layers = list(record["layers"])
            if not spec.get("in_memory"):
                config.probe.name, config.probe.root = spec.pop("name"), spec.pop("root", None)
                config.probe.options = spec
        if settings:
            config = merge(config, settings)
        stored = run.read_target() or {}
        given_factory = options.pop("factory", None)
        factory = given_factory or stored.get("factory")
        files = {CONFIG: setting_paths(config), TARGET: ["record.model", "target.factory"]}
        if record is not None:
            files[MANIFEST] = ["record.model", "record.pool", "record.layers", "probe.name", "probe.root",
                               "probe.options"]
        provenance = Trust() if trust else Trust.of_run(run.path, files)
        provenance.give(given_paths(settings))
        if given_factory is not None or target is not None:  # the model is the caller's own
            provenance.give(["target.factory", "record.model"])
        if probe is not None:
            provenance.give(["probe"])
        if target is None and factory is None:
            from .targets.specs import is_target_spec

            spec = stored.get("spec") or config.record.model
            target = spec if stored.get("kind") != "module" and is_target_spec(spec) else \
                _MissingModule(stored.get("name") or spec)
        return cls(target, probe, run.path, factory=factory, config=config, _create=False, _trust=provenance,
                   **options)

    def _open_target(self) -> Target:
        from .targets.base import check_weights

        arg = self._target_arg
        if isinstance(arg, _MissingModule):
            raise AudioDissectError(f"the run at {self.run_dir.path} was made from a Python model "
                                    f"({arg.name!r}) without a factory, so it cannot be rebuilt here",
                                    hint="pass the model again: Dissection.open(run, target=model, ...), or record "
                                         "with factory='package.module:function'")
        if self._factory is not None and (arg is None or isinstance(arg, str)):
            self.trust.require("target.factory", self._factory,
                               f"imports and calls the Python function {self._factory!r} to build the model")
            arg = _import_factory(self._factory)()  # the model as the stored import path builds it
        if isinstance(arg, str):
            from .targets import load_target
            from .targets.specs import TARGETS

            self.trust.require("record.model", arg, TARGETS.reach(arg))
            target = load_target(arg, device=self.config.record.device, **self.config.record.model_options)
            check_weights(target.module, where=target.name)
        else:
            target = _as_target(arg, name=None, **self._target_options)
            check_weights(target.module, where=target.name)  # before .to(): a meta tensor cannot be moved
            if self.config.record.device is not None:
                target.module.to(self.config.record.device)
        if target.sample_rate <= 0:
            raise AudioDissectError(f"the model {target.name!r} has no valid sample rate")
        if self.config.record.layouts:  # the settings' layouts, over the model's own
            layouts = check_layouts(self.config.record.layouts)
            target = dataclasses.replace(target, layouts={**target.layouts, **layouts})
        if self.config.sae.attached:  # the run's SAEs, whose latents are layers sae:<layer>
            from .sae import attach_run_saes

            attach_run_saes(target, self.run_dir, self.config.sae.attached, pool=self.config.record.pool)
        return target

    def _open_probe(self) -> ProbeSet:
        if self._probe_arg is not None:
            return self._probe_arg
        run = self.run_dir
        if run.has_stage("record"):
            record = run.stage("record")
            if record["probe"].get("in_memory"):
                raise AudioDissectError("this run was recorded on clips held in memory",
                                        hint="pass the same clips again: Dissection.open(run, probe=clips)")
        from .probes import load_probe, probe_reach

        cfg = self.config.probe
        self.trust.require("probe.name", cfg.name, probe_reach(cfg.name, root=cfg.root))
        probe = load_probe(cfg.name, root=cfg.root, **cfg.options)
        for bad in probe.skipped:
            log.warning("skipped %s: %s", bad.source, bad.reason)
        if run.has_stage("record") and run.has_clips():
            dropped = {c["id"] for c in run.dropped_clips()}  # left out by the recording (non-finite values)
            if [c.id for c in probe.clips if c.id not in dropped] != [c.id for c in run.clips()]:
                raise AudioDissectError(f"the probing set {cfg.name!r} changed since {run.path} was recorded",
                                        hint="record again (a new run directory), or pass the original clips")
        return probe

    @property
    def target(self) -> Target:
        """The model (opened on first use)."""
        return self.context.target

    @property
    def probe(self) -> ProbeSet:
        """The probing set (opened on first use)."""
        return self.context.probe

    @property
    def path(self) -> Path:
        """The run directory."""
        return self.run_dir.path

    def _save(self) -> None:
        self.run_dir.write_config(to_dict(self.config))

    def _update(self, section: str, **changes: Any) -> None:
        """Set the given (not None) settings of the config section `section` (the caller's own from now on),
        then validate the whole tree."""
        node = getattr(self.config, section)
        for name, value in changes.items():
            if value is not None:
                setattr(node, name, value)
                self.trust.give([f"{section}.{name}"])
        validate(self.config)

    def _stage(self, stage: Stage, *, force: bool = False, before: Callable[[], None] | None = None) -> StageOutcome:
        def save() -> None:  # once the stage's inputs are usable: a refused call writes nothing
            self._save()
            if before is not None:
                before()

        with self._leaving_no_empty_folder():
            return self.runner(stage, self.context, force=force, before=save)

    @contextlib.contextmanager
    def _leaving_no_empty_folder(self) -> Iterator[None]:
        """On an error, remove the run's folder if this dissection created it and nothing was written into it."""
        try:
            yield
        except BaseException:
            self.run_dir.remove_if_empty()
            raise

    # -- the stages, in their order (config.STAGES) ------------------------------
    def record(self, layers: str | Sequence[str] | Callable[[str], bool] | None = None, *,
               pool: str | None = None, batch_size: int | None = None,
               output_layer: str | None = None, frames: str | Sequence[str] | None = None,
               length_bucket: float | None = None) -> Activations:
        """Step 0: record every chosen unit's activations over the probing set.

        Parameters
        ----------
        layers : str, list of str, or predicate, optional
            Module paths or globs, in the order you want them (default: the
            config's, else the model's default layers).
        pool : {"mean", "max", "first"}, optional
        batch_size : int, optional
        output_layer : str, optional
            The layer whose units are the model's classes (default: the
            recorded layer that produces the logits).
        frames : str or list of str, optional
            Layers (paths or globs, ``"*"`` for all with a time axis) also kept
            frame by frame with each frame's time span (``record.frames``;
            see :meth:`moments`).
        length_bucket : float, optional
            Seconds: clips are padded to whole buckets so that clips of
            different lengths share a batch (``record.length_bucket``).

        Returns
        -------
        Activations
            ``acts[layer]`` is an (N clips, U units) float32 array.
        """
        from .record import RecordStage

        if layers is not None and not callable(layers):
            layers = [layers] if isinstance(layers, str) else list(layers)
        self._update("record", pool=pool, batch_size=batch_size, output_layer=output_layer,
                     layers=None if callable(layers) else layers, length_bucket=length_bucket,
                     frames=None if frames is None else [frames] if isinstance(frames, str) else list(frames))
        self._stage(RecordStage(layers if callable(layers) else None), before=self._write_target)
        return self.activations()

    def _write_target(self) -> None:
        arg = self._target_arg
        if self._factory is not None:
            self.run_dir.write_target({"kind": "factory", "factory": self._factory})
        elif isinstance(arg, str):
            self.run_dir.write_target({"kind": "spec", "spec": arg})
        else:
            self.run_dir.write_target({"kind": "module", "name": self.target.name})

    def activations(self) -> Activations:
        """The recorded activations of this run (see :class:`~audiodissect.results.Activations`)."""
        record = self.run_dir.stage("record")
        names = record.get("class_names")
        return Activations(layers=dict(record["layers"]), clips=self.run_dir.clips(),
                           output_layer=self.run_dir.output_layer(), run_path=self.path,
                           class_names=list(names) if names else None)

    def unit_classes(self) -> dict[str, str]:
        """{unit id: class name} of the recorded output layer's units (empty without one, or without class names)."""
        if not self.run_dir.has_stage("record"):
            return {}
        record = self.run_dir.stage("record")
        return output_unit_classes(self.run_dir.output_layer(), record.get("class_names"), dict(record["layers"]))

    # -- notebooks -----------------------------------------------------------------
    def activations_for(self, clips: Any, units: str | Sequence[str] | None = None, *,
                        sample_rate: int | None = None, names: Sequence[str] | None = None) -> UnitActivations:
        """Chosen units' activations on new audio, recorded as the run records (run-with-cache style).

        The same hooks, pooling, windows and batching as the record stage; nothing
        is written into the run directory.

        Parameters
        ----------
        clips : np.ndarray, sequence of np.ndarray, path, sequence of paths, or ProbeSet
            One waveform (T,), several ((n, T) or a list of (T_i,)), audio files
            (wav, flac, ogg, mp3), or a probing set (every clip).
        units : str or sequence of str, optional
            Unit ids (``"fc#3"``), layer paths or glob patterns (every unit of the
            layers they match); default: every layer the run recorded.
        sample_rate : int, optional
            Rate of waveforms given as arrays (default: the model's); they are
            resampled to the model's rate. Files and probing sets carry their own.
        names : sequence of str, optional
            Row names (default: file names, clip ids or ``clip0``, ``clip1``, ...).

        Returns
        -------
        UnitActivations
            ``.values`` (n clips, n units) float32, ``.units``, ``.clips``, ``.logits``;
            ``acts["fc#3"]`` is one unit's (n,) column.

        Examples
        --------
        >>> new = d.activations_for("dog_bark.flac", ["classifier#4", "features.conv2"])   # doctest: +SKIP
        >>> new["classifier#4"]                                                         # doctest: +SKIP
        """
        from .notebook import unit_activations

        if units is None:
            units = list(self.run_dir.stage("record")["layers"]) if self.run_dir.has_stage("record") else \
                list(self.target.default_layers)
        return unit_activations(self.target, clips, units, settings=self.config.record, sample_rate=sample_rate,
                                names=names, classes=self.unit_classes())

    def top_clips(self, unit: str, k: int = 5, *, bottom: bool = False, split: str | None = PROBE) -> TopClips:
        """A unit's `k` most (or least) activating clips, with their audio, activations and descriptions.

        In a notebook the result shows as a table with an audio player per clip
        (no IPython needed); ``.players()`` gives ``IPython.display.Audio``
        objects and ``clip.audio`` the samples.

        Parameters
        ----------
        unit : str
            A recorded unit (``"<layer>#<index>"``).
        k : int
        bottom : bool
            The least activating clips instead.
        split : {"probe", "heldout"} or None
            Which clips to rank (default: the probe clips that describe units; None: all).

        Returns
        -------
        TopClips
        """
        from .notebook import top_clips

        descriptions = self.run_dir.descriptions() if self.run_dir.descriptions_path.exists() else None
        rate = int(self.run_dir.stage("record").get("sample_rate") or 16000)
        return top_clips(self.activations(), unit, k=k, bottom=bottom, split=split, probe=self.context.probe,
                         sample_rate=rate, descriptions=descriptions)

    def export(self, out: str | os.PathLike, *, format: str = "parquet", top: int = 5,
               neuronpedia: bool = True) -> Path:
        """Write the run's units, names, concepts, explanations with their scores, and top-clip references to a
        new folder `out` outside the run, for others to load without rerunning anything (:mod:`audiodissect.export`).

        Parameters
        ----------
        out : path
            A new (or empty) folder, outside the run directory.
        format : {"parquet", "jsonl", "hf-dataset"}
            Parquet files, JSON lines, or a Hugging Face ``DatasetDict`` with one split per table.
        top : int
            Top and bottom clips per unit.
        neuronpedia : bool
            Also one Neuronpedia-style JSON file per unit (``neuronpedia/<layer>/<index>.json``).

        Returns
        -------
        Path
            `out`; read it back with :func:`audiodissect.read_export`.
        """
        from .export import export_run

        return export_run(self.run_dir, out, format=format, top=top, neuronpedia=neuronpedia)

    def _repr_html_(self) -> str:
        from . import htmlrepr

        stages = self.run_dir.manifest()["stages"]
        model = self._target_arg if isinstance(self._target_arg, str) else \
            getattr(self._target_arg, "name", type(self._target_arg).__name__)
        pairs = [("run directory", str(self.path)), ("model", model), ("probing set", self.config.probe.name),
                 ("stages done", ", ".join(stages) or "none")]
        if "record" in stages:
            layers = stages["record"]["layers"]
            pairs.append(("units", f"{sum(layers.values())} in {len(layers)} layers"))
        return htmlrepr.fields(pairs, caption="Dissection")

    def moments(self, unit: str, *, k: int | None = None, snippet_seconds: float | None = None,
                audio: bool = True) -> Any:
        """When a unit fires: its top moments (clip and time) over the probe clips, one per clip.

        The unit's layer must be recorded frame by frame (``record(frames=...)``).

        Parameters
        ----------
        unit : str
            ``"<layer>#<index>"``.
        k : int, optional
            Moments (default ``report.moments``).
        snippet_seconds : float, optional
            Length of each snippet (default ``report.snippet_seconds``).
        audio : bool
            Add each snippet's samples (column ``audio``, float32 arrays at the
            run's sample rate); needs the probing set.

        Returns
        -------
        pandas.DataFrame
            One row per moment, best first: ``unit``, ``rank``, ``clip``, ``label``,
            ``frame``, ``start``, ``end``, ``time`` (seconds in the clip), ``activation``,
            ``snippet_start``, ``snippet_end``, ``events`` (labels sounding at ``time``)
            and ``audio``.
        """
        import pandas as pd

        from .analyses.moments import unit_moments

        cfg = self.config.report
        rows = unit_moments(self.run_dir, unit, k=cfg.moments if k is None else k,
                            snippet_seconds=cfg.snippet_seconds if snippet_seconds is None else snippet_seconds)
        frame = pd.DataFrame(rows)
        if audio and rows:
            rate = int(self.run_dir.stage("record")["sample_rate"])
            position = {c.id: i for i, c in enumerate(self.probe.clips)}
            missing = sorted({r["clip"] for r in rows} - set(position))
            if missing:
                raise AudioDissectError(f"{len(missing)} of the moments' clips (e.g. {missing[0]!r}) are not in the "
                                        "probing set given, so their audio cannot be read",
                                        hint="open the run with the probing set it recorded, or pass audio=False")
            frame["audio"] = [self.probe.audio(position[r["clip"]], sample_rate=rate)[
                int(round(r["snippet_start"] * rate)):int(round(r["snippet_end"] * rate))] for r in rows]
        return frame

    def frame_scores(self, source: str = "names", *, quantile: float = 0.9, split: str = HELDOUT) -> Any:
        """Score explanations frame by frame: IoU and AUPRC of each unit's frames against where its concept sounds.

        Needs frame layers and timed events (e.g. the ``scenes`` probing set); see
        :mod:`audiodissect.scoring.frames`.

        Parameters
        ----------
        source : str
            ``"names"`` (each unit's one name) or an identify result such as ``"tab/cos"``.
        quantile : float
            A unit's active frames lie above this quantile of its frames.
        split : {"heldout", "probe", "all"}

        Returns
        -------
        pandas.DataFrame
            One row per explained unit: ``unit``, ``concept``, ``iou``, ``auprc``, ``base_rate``, ``frames``.
        """
        import pandas as pd

        from .scoring.frames import explanations, score_frames

        return pd.DataFrame(score_frames(self.run_dir, explanations(self.run_dir, source), quantile=quantile,
                                         split=split),
                            columns=["unit", "concept", "iou", "auprc", "base_rate", "frames"])

    def describe(self, captioner: str | None = None) -> Descriptions:
        """Step 1: one description per clip (``tags`` offline, ``file:<json>``, ``http:<model>@<url>``)."""
        from .describe import DescribeStage

        self._update("describe", captioner=captioner)
        self._stage(DescribeStage())
        return Descriptions(texts=self.run_dir.descriptions() or [], clips=self.run_dir.clips())

    def import_descriptions(self, path: str | os.PathLike) -> Descriptions:
        """Make a JSON file of descriptions (clip id or file name -> text) this run's descriptions."""
        from .describe import import_descriptions

        import_descriptions(self.run_dir, self.probe, path)
        return self.describe(f"file:{path}")

    def identify(self, concepts: str | os.PathLike | None = None, *, methods: Sequence[str] | None = None,
                 similarities: Sequence[str] | None = None, tab_backend: str | None = None) -> Identification:
        """Module A: each unit's closed-set concepts by TAB, DB and label evidence, and its one name.

        Parameters
        ----------
        concepts : path, optional
            A concept set, one per line (default: the probing set's labels).
        methods : list of {"tab", "db", "labels"}, optional
            Evidence sources (default ``identify.methods``: all three; ``labels`` is 1 on a concept's clips).
        similarities : list of str, optional
            From ``cos``, ``cos3``, ``rank_reorder``, ``wpmi``, ``soft_wpmi``.
        tab_backend : str, optional
            ``tag-bridge`` (offline) or ``clap[:<id>]``.

        Returns
        -------
        Identification
            One record per (unit, method, similarity) with its top concepts, and each
            unit's one name (``.names``, ``.names_frame()``; "unexplained" units have none).
        """
        from .identify import IdentifyStage

        cfg = self.config.identify
        self._update("identify", concepts=None if concepts is None else str(concepts), tab_backend=tab_backend,
                     methods=None if methods is None else list(dict.fromkeys(methods)),
                     similarities=None if similarities is None else list(dict.fromkeys(similarities)))
        if "db" in cfg.methods and not self.run_dir.descriptions_path.exists():
            if methods is not None:
                raise AudioDissectError(f"DB needs clip descriptions and {self.path} has none",
                                        hint="call describe() first, or identify(methods=['tab'])")
        records = self._stage(IdentifyStage()).value
        names = self.run_dir.read_units("names") if self.run_dir.has_units("names") else []
        return Identification("identify", records, classes=self.unit_classes(), names=names,
                              activations=self.activations())

    def stability(self, *, resamples: int | None = None, noise: float | None = None) -> list[Any]:
        """Whether each named unit keeps its name on resampled probe clips and with noise in the audio.

        Parameters
        ----------
        resamples : int, optional
            Bootstrap resamples of the probe clips (``stability.resamples``).
        noise : float, optional
            Gaussian noise added to each waveform, times its standard deviation (``stability.noise``).

        Returns
        -------
        list of NameStability
            One per named unit: its bootstrap survival and whether it flips with noise.
        """
        from .identify import StabilityStage

        self._update("stability", resamples=resamples, noise=noise)
        return self._stage(StabilityStage()).value

    def summarize(self, llm: str | None = None, *, k: int | None = None, threshold: float | None = None,
                  refresh_cache: bool = False) -> UnitRecords:
        """Modules B and C and ICL: summaries, calibration, open concepts and an LLM's concept choice.

        Parameters
        ----------
        llm : str, optional
            ``extractive`` (offline), ``llamacpp[:<gguf>]``, ``http:<model>@<url>``, ``transformers:<id>``.
        k : int, optional
            Top and bottom clips per unit.
        threshold : float, optional
            Calibration's cosine threshold.
        refresh_cache : bool
            Ask every prompt again instead of reading the run's cached answers.
        """
        from .summarize.stage import SummarizeStage

        self._update("summarize", llm=llm, k=k, threshold=threshold)
        return UnitRecords("summarize", self._stage(SummarizeStage(refresh=refresh_cache)).value,
                           classes=self.unit_classes())

    def score(self, *, audio_text: bool | None = None) -> UnitRecords:
        """Score every explanation by how well it predicts the unit on held-out clips.

        Parameters
        ----------
        audio_text : bool, optional
            Also predict from audio-text similarity (``score.audio_text``; needs the clips' audio).
        """
        from .scoring import ScoreStage

        self._update("score", audio_text=audio_text)
        return UnitRecords("score", self._stage(ScoreStage()).value, classes=self.unit_classes())

    def prune(self, concept: str | Sequence[str] | None = None, *, strategies: Sequence[str] | None = None,
              units: Sequence[str] | None = None, seeds: int | None = None) -> PruneResult:
        """Prune units to make the model forget `concept` (a class name, a list, ``"all"``, ``"sample:N"``).

        Parameters
        ----------
        concept : str or list of str, optional
            Default: the run's ``prune.concepts`` (three classes spread evenly).
        strategies : list of str, optional
            From ``tab``, ``db``, ``ocp``, ``random``, ``units``.
        units : list of str, optional
            Unit ids for the ``units`` strategy (added to the strategies when given).
        seeds : int, optional
            Random draws per concept.

        Returns
        -------
        PruneResult
            ``.table`` (one row per strategy: dA, dR, selectivity, accuracies),
            ``.results`` (one row per concept and selection) and ``.selections``.
        """
        from .prune import PruneStage
        from .prune.strategies import saved_selections

        cfg = self.config.prune
        if units:
            strategies = list(dict.fromkeys([*(strategies if strategies is not None else ()), "units"]))
        self._update("prune", seeds=seeds, units=None if units is None else list(units),
                     concepts=None if concept is None else [concept] if isinstance(concept, str) else list(concept),
                     strategies=None if strategies is None else list(strategies))
        section = self._stage(PruneStage()).section
        results = self.run_dir.read_prune_rows()
        selections = [selection for concept in section["concepts"]
                      for selection in saved_selections(self.run_dir, concept)]
        return PruneResult(table=list(section["table"]), results=results, selections=selections)

    def save_pruned_weights(self, selection: Any, path: str | os.PathLike) -> Path:
        """Save the model's state dict with `selection`'s units zeroed (Linear/Conv weights and biases).

        Parameters
        ----------
        selection : Selection
            One of :attr:`PruneResult.selections`.
        path : path
            Where the state dict goes (``torch.save``; written atomically).
        """
        import copy

        import torch

        from .cache import atomic_path
        from .prune.ablation import zero_units_

        model = zero_units_(copy.deepcopy(self.target.module), list(selection.units))
        if self.config.sae.attached:  # the model's own weights: attached SAEs are not part of it
            from .sae import detach_all

            detach_all(model)
        with atomic_path(Path(path)) as tmp:
            torch.save(model.state_dict(), tmp)
        return Path(path)

    def class_drop(self) -> dict[str, Any]:
        """Which classes lose confidence when each pruned concept's units are switched off (paper Fig. 10).

        Returns
        -------
        dict
            ``summary`` (one row per strategy: how often and how far the concept's own
            class loses most) and ``files`` (CSV, JSON and heat maps under ``pruning/``).
        """
        from .prune import ClassDropStage

        return dict(self._stage(ClassDropStage()).section)

    def importance(self, *, properties: Sequence[str] | None = None, fractions: Sequence[float] | None = None,
                   seeds: int | None = None) -> dict[str, Any]:
        """Feature importance (paper Fig. 4): held-out accuracy when pruning units ranked by their summaries.

        Parameters
        ----------
        properties : list of str, optional
            Summary properties that rank units (``prune.importance_properties``).
        fractions : list of float, optional
            Shares of units pruned.
        seeds : int, optional
            Random rankings averaged.

        Returns
        -------
        dict
            The curves (mean and sd per fraction), the properties' statistics and the plot names.
        """
        from .prune import ImportanceStage

        self._update("prune", importance_properties=None if properties is None else list(properties),
                     importance_fractions=None if fractions is None else list(fractions), importance_seeds=seeds)
        return self._stage(ImportanceStage()).value

    def causal(self, *, units_per_layer: int | None = None, random_units: int | None = None) -> list[Any]:
        """The causal check of unit names: held-out output changes when a confidently named unit is switched
        off or turned up, on clips with its concept against the others, compared with random units.

        Parameters
        ----------
        units_per_layer : int, optional
            Named units checked per layer (``causal.units_per_layer``).
        random_units : int, optional
            Random units per layer compared with them (``causal.random_units``).

        Returns
        -------
        list of CausalEffect
        """
        from .prune import CausalStage

        self._update("causal", units_per_layer=units_per_layer, random_units=random_units)
        return self._stage(CausalStage()).value

    def last_layer(self) -> list[dict[str, Any]]:
        """Last-layer dissection accuracy (the output units' known classes); ``evaluation/last_layer.csv``.

        Returns
        -------
        list of dict
            One row per method and similarity: top-1 and top-5 accuracy, among all concepts
            and among the class names, and the mean cosine of the named and true concepts.
        """
        from .scoring import LastLayerStage

        return self._stage(LastLayerStage()).value

    def analyze(self) -> Analyses:
        """The paper's analyses (adjectives, adjectives by depth, uninterpretable units) in ``analysis/``."""
        from .analyses import AnalyzeStage

        return Analyses(summary=self._stage(AnalyzeStage()).value, folder=self.run_dir.analysis_dir)

    def report(self, *, units_per_layer: int | None = None) -> Path:
        """Write the static HTML report; returns ``report/index.html``.

        Parameters
        ----------
        units_per_layer : int, optional
            Unit detail pages per layer, best scored first (``report.units_per_layer``).
        """
        from .report import ReportStage

        self._update("report", units_per_layer=units_per_layer)
        return self._stage(ReportStage()).value

    # -- sparse autoencoders -------------------------------------------------------
    def train_sae(self, layer: str, *, attach: bool = True, architecture: str | None = None,
                  k: int | None = None, expansion_factor: float | None = None, d_sae: int | None = None,
                  lr: float | None = None, epochs: int | None = None, steps: int | None = None,
                  batch_size: int | None = None, seed: int | None = None, dead_latents: str | None = None,
                  device: str | None = None) -> Any:
        """Train a sparse autoencoder on `layer`'s recorded activations (probe clips), measured on held-out clips.

        The SAE is saved in SAELens's format under ``sae/<layer>/`` and, with
        `attach`, attached to the model: its latents are then the layer
        ``sae:<layer>`` (module path ``sae.<layer>``) to record, identify,
        summarise, score and prune like any other. Settings left out keep the
        run's ``sae`` section (:class:`~audiodissect.config.SaeConfig`).

        Parameters
        ----------
        layer : str
            A recorded layer (module path).
        attach : bool
            Attach the trained SAE to the model (and list it in ``sae.attached``).
        architecture : {"topk", "batchtopk"}, optional
        k, expansion_factor, d_sae, lr, epochs, steps, batch_size, seed, dead_latents, device
            Training settings (see :class:`~audiodissect.config.SaeConfig`).

        Returns
        -------
        SaeTraining
            ``.sae``, ``.report`` (``.report.heldout.fve``, ``.l0``, ``.dead``), ``.folder``, ``.latents``.
        """
        from .sae import SaeTrainStage

        self._update("sae", architecture=architecture, k=k, expansion_factor=expansion_factor,
                     d_sae=d_sae, lr=lr, epochs=epochs, steps=steps, batch_size=batch_size, seed=seed,
                     dead_latents=dead_latents, device=device)
        training = self._stage(SaeTrainStage(layer)).value
        if attach:
            self.attach_sae(layer)
        return training

    def attach_sae(self, layer: str, source: str | os.PathLike | Any = None) -> str:
        """Attach an SAE to `layer`: its latents become the layer ``sae:<layer>`` (module path ``sae.<layer>``).

        Parameters
        ----------
        layer : str
            The model layer the SAE reads.
        source : path or SparseAutoencoder, optional
            A folder in SAELens's format (``cfg.json`` + ``sae_weights.safetensors``,
            e.g. an SAE trained elsewhere) or an SAE object, copied into the run's
            ``sae/<layer>/``; default: the SAE trained there by :meth:`train_sae`.

        Returns
        -------
        str
            The latents' module path.
        """
        from .sae import attach_run_saes, import_sae, latent_path

        if source is not None:
            import_sae(self.run_dir, layer, source)
        attached = [name for name in self.config.sae.attached if name != layer] + [layer]
        self._update("sae", attached=attached)
        if "target" in self.context.__dict__:  # the model is open: attach now (else when it is opened)
            attach_run_saes(self.target, self.run_dir, [layer], pool=self.config.record.pool)
        else:
            from .rundir import SAE_CFG

            if not self.run_dir.file(SAE_CFG, layer=layer).exists():
                raise AudioDissectError(f"{self.path} holds no SAE for layer {layer!r}",
                                        hint="train one (train_sae) or give its folder (attach_sae(layer, path))")
        self._save()
        return latent_path(layer)

    # -- everything --------------------------------------------------------------
    def run(self, stages: Sequence[str] | None = None, *, refresh_cache: bool = False) -> dict[str, StageOutcome]:
        """Every stage in turn (or the named ones, always in :data:`~audiodissect.config.STAGES` order).

        Without `stages`, the run's ``stages`` setting (every stage but the
        feature-importance curves). The layers to record are checked before
        anything runs, and a failed recording ends the run (nothing after it
        has data), as does a run directory that cannot be written. Any other
        stage that cannot run says why (through `echo` and the log) and the
        later stages still run with what exists, so the report is always
        written. `refresh_cache` asks the summaries' prompts again instead of
        reading the run's cached answers.

        Returns
        -------
        dict of str to StageOutcome
            The outcome of each stage that ran or was reused.

        Raises
        ------
        AudioDissectError
            When the recording fails, or the run directory cannot be written;
            :class:`~audiodissect.errors.IncompleteStageError` after the last
            stage when a stage had failed items (prompts, captions) that its
            ``allow_failures`` setting does not accept.
        """
        wanted = set(check_stage_names(list(stages) if stages is not None else self.config.stages, STAGES))
        with self._leaving_no_empty_folder():
            self.echo(self.probe.describe())  # a bad probing set fails here, before the model is loaded
            if "record" in wanted:
                from .record import RecordStage

                RecordStage().layer_selection(self.context)  # a mistyped layer fails here, before any stage
        incomplete: list[IncompleteStageError] = []
        for name in STAGES:
            if name not in wanted:
                continue
            try:
                if name == "summarize":
                    self.summarize(refresh_cache=refresh_cache)
                else:
                    getattr(self, stage_method(name))()
            except IncompleteStageError as exc:  # its results are kept: the later stages use them
                self.echo(f"[{name}] incomplete: {exc.message}")
                incomplete.append(exc)
            except AudioDissectError as exc:
                if name == "record" or isinstance(exc, WriteError):
                    raise
                self.echo(f"[{name}] skipped: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
                log.info("stage %s skipped: %s", name, exc)
        if incomplete:
            raise IncompleteStageError("; ".join(exc.message for exc in incomplete), hint=incomplete[0].hint)
        return dict(self.runner.outcomes)


def stage_method(name: str) -> str:
    """The :class:`Dissection` method that runs stage `name` (``last-layer`` -> ``last_layer``)."""
    return name.replace("-", "_")


class _MissingModule:
    """Stands for a user's module that a reopened run cannot rebuild."""

    def __init__(self, name: str):
        self.name = name


def _is_model(obj: Any) -> bool:
    """Whether `obj` is a :class:`~audiodissect.targets.base.Target` or a torch module (imports torch)."""
    import torch

    from .targets.base import Target

    return isinstance(obj, (Target, torch.nn.Module))


def _probe_names() -> tuple[str, ...]:
    from .probes import PROBE_NAMES

    return tuple(PROBE_NAMES)
