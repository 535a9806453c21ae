"""One stage protocol and one runner for every stage of a dissection.

A stage declares its ``name``, the ``outputs`` it leaves in the run
directory, its ``inputs`` (everything its result depends on, hashed into the
cache key) and ``run``. The :class:`Runner` does the rest, the same way for
every stage: it derives the stage's code version from the source of every
project module the stage's module imports (directly or not), so an edited
stage never reuses stale outputs; it reuses the last result when the key
matches and the outputs exist; otherwise it runs the stage, times it and
writes the manifest section with the key, its readable parts and the time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.util
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .cache import hash_key
from .config import RunConfig
from .errors import AudioDissectError, IncompleteStageError, is_write_error, write_error
from .executor import Executor, make_executor
from .progress import ProgressHook, silent, stage_progress
from .rundir import RunDir
from .trust import Trust

if TYPE_CHECKING:
    from .probes.base import ProbeSet
    from .targets.base import Target

PACKAGE = __name__.rpartition(".")[0]
#: The package's folder, where :func:`code_version` reads the source of its modules.
ROOT = Path(__file__).resolve().parent


@dataclass
class Context:
    """What stages read: the run directory, the settings, the model and the probing set, opened lazily.

    Parameters
    ----------
    run : RunDir
    config : RunConfig
        The run's settings: every stage reads its settings here, nowhere else.
    target_source, probe_source : object or callable, optional
        The :class:`~audiodissect.targets.base.Target` and
        :class:`~audiodissect.probes.base.ProbeSet`, or functions that open them
        on first use (a stage that needs neither never opens them).
    hook : ProgressHook
    echo : callable
        Receives the lines a stage prints.
    trust : Trust
        Which settings were read from the run directory (not given in this call):
        those are not followed outside this process (:mod:`audiodissect.trust`).
    """

    run: RunDir
    config: RunConfig
    target_source: Target | Callable[[], Target] | None = None
    probe_source: ProbeSet | Callable[[], ProbeSet] | None = None
    hook: ProgressHook = silent
    echo: Callable[[str], None] = lambda line: None
    trust: Trust = dataclasses.field(default_factory=Trust)
    _subsets: dict[tuple, ProbeSet] = dataclasses.field(default_factory=dict, repr=False)

    @functools.cached_property
    def target(self) -> Target:
        source = self.target_source
        if source is None:
            raise AudioDissectError("this step needs the run's model, and none was given",
                                    hint="pass the model (target=...) when opening the run")
        return source() if callable(source) else source

    @functools.cached_property
    def source_probe(self) -> ProbeSet:
        """The probing set as given (every clip): what the record stage records."""
        source = self.probe_source
        if source is None:
            raise AudioDissectError("this step needs the run's probing set, and none was given")
        return source() if callable(source) else source

    @property
    def probe(self) -> ProbeSet:
        """The run's clips: the probing set without the clips the recording left out (non-finite values), so
        that its clip i is row i of the run's arrays."""
        from .probes.base import SkippedClip, without_clips

        source = self.source_probe
        dropped = tuple((c["id"], c["reason"]) for c in self.run.dropped_clips())
        if dropped not in self._subsets:
            self._subsets[dropped] = without_clips(source, [SkippedClip(i, reason) for i, reason in dropped])
        return self._subsets[dropped]

    @property
    def has_probe(self) -> bool:
        """Whether a probing set was given (a stage that can do without one checks this first)."""
        return self.probe_source is not None

    @functools.cached_property
    def executor(self) -> Executor:
        """Where the stage's parallel work runs (the ``executor`` settings; in this process by default)."""
        address = self.config.executor.ray_address
        if self.config.executor.name == "ray":
            self.trust.require("executor.ray_address", address,
                               address and f"joins the Ray cluster at {address} and sends the model and the clips "
                                           "to it")
        return make_executor(self.config.executor)


@dataclass
class StageOutcome:
    """What running (or reusing) one stage gave.

    Attributes
    ----------
    name : str
    section : dict
        The stage's manifest section (its facts, ``key``, ``seconds``).
    reused : bool
        True when the stage's earlier result was kept (nothing recomputed).
    value : Any
        What the stage's ``run`` or ``load`` returned (records, arrays, paths).
    """

    name: str
    section: dict[str, Any]
    reused: bool
    value: Any = None


class Stage:
    """Base class of a stage; subclasses set :attr:`name`, :attr:`outputs` and implement the methods.

    Attributes
    ----------
    name : str
        The stage's name (``record``, ``describe``, ...), also its manifest section;
        one of :data:`audiodissect.config.STAGES`.
    outputs : tuple of str
        Run-directory files or folders (names from :mod:`audiodissect.rundir`)
        that must exist for an earlier result to be reused.
    """

    name: ClassVar[str] = ""
    outputs: ClassVar[tuple[str, ...]] = ()
    #: What the stage's failed items are (``prompts``), and the ``audiodissect run`` flag that accepts them.
    items: ClassVar[str] = "items"
    allow_flag_of_run: ClassVar[str | None] = None

    def inputs(self, ctx: Context) -> dict[str, Any]:
        """Everything the result depends on besides the code: {readable name: value}.

        Raises :class:`AudioDissectError` when the stage cannot run (a missing
        earlier result, a model without class names, ...): nothing is written then.
        """
        raise NotImplementedError

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], Any]:
        """Compute and write the stage's outputs; return (manifest facts, value)."""
        raise NotImplementedError

    def load(self, ctx: Context) -> Any:
        """The value of an earlier, reused result, read back from the run directory."""
        return None

    def failures_allowed(self, ctx: Context) -> bool:
        """Whether items that failed in :meth:`run` (its ``failed`` fact) are accepted; if not, the runner keeps
        what the stage wrote and raises :class:`~audiodissect.errors.IncompleteStageError`."""
        return False

    def reaches(self, ctx: Context) -> dict[str, str | None]:
        """What running the stage would do outside this process, by the setting that asks for it.

        ``{dotted setting path: what it does, or None}``, e.g.
        ``{"summarize.llm": "sends every prompt ... to http://gpu:8000/v1"}``
        (the backend registries' :meth:`~audiodissect.registry.Registry.reach`).
        The runner refuses to run the stage when such a setting was read from
        the run directory rather than given by the user (:mod:`audiodissect.trust`).
        """
        return {}

    def lines(self, ctx: Context, outcome: StageOutcome) -> list[str]:
        """What the stage says after it ran or was reused (``audiodissect run`` prints it), e.g. its table."""
        return []

    def output_paths(self, run: RunDir) -> list[Path]:
        return [run.file(name) for name in self.outputs]


@functools.lru_cache(maxsize=None)
def _module_file(module: str) -> Path | None:
    """The source file of `module`, or None when it is no module with one (a name imported from a module).

    A module of this package is found in :data:`ROOT` the way the import system
    finds it (a package's ``__init__.py`` before a module file), without
    importing it or its packages: working out a stage's code version costs no
    package ``__init__`` (nor the torch it may import). Any other module (a
    stage of your own) is found by :func:`importlib.util.find_spec`.
    """
    if module == PACKAGE or module.startswith(PACKAGE + "."):
        base = ROOT.joinpath(*module.split(".")[1:])
        for path in (base / "__init__.py", base.parent / f"{base.name}.py"):
            if path.is_file():
                return path
        return None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


#: An import statement at the start of a line or after a ``:`` or ``;`` (``if x: import y``):
#: ``from <stem> import <names>`` (names in parentheses may span lines) or ``import <modules>``.
_IMPORT = re.compile(r"(?:^|[:;])[ \t]*(?:from[ \t]+(?P<stem>\.*[\w.]*)[ \t]+import[ \t]+(?P<names>\([^)]*\)|[^\n]*)"
                     r"|import[ \t]+(?P<modules>[^\n]*))", re.MULTILINE)


@functools.lru_cache(maxsize=None)
def module_imports(path: Path, module: str) -> tuple[str, ...]:
    """Project modules that the file `path` (module `module`) imports, anywhere in its body.

    Import statements are found by a pattern over the source (a tenth of the cost of parsing it, which
    was most of the cost of reusing a stage): every statement that imports is matched, at any depth. A
    line of a string that reads like an import is matched too; that only adds a module to a stage's
    code version (tests check the pattern against the parsed statements of every module).
    """
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")  # backslash continuations joined
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for match in _IMPORT.finditer(text):
        if match["modules"] is not None:
            statement = match["modules"].split("#")[0].split(";")[0]
            found += [name.split()[0] for name in statement.split(",") if name.strip()]
            continue
        stem = match["stem"]
        level = len(stem) - len(stem.lstrip("."))
        if level:
            base = package.split(".")[: len(package.split(".")) - level + 1]
            stem = ".".join(base + ([stem[level:]] if stem[level:] else []))
        found.append(stem)
        names = re.sub(r"#[^\n]*", "", match["names"]).split(";")[0].strip("() \n")
        found += [f"{stem}.{name.split()[0]}" for name in names.split(",") if name.strip()]  # `from . import x`
    return tuple(m for m in found if m == PACKAGE or m.startswith(PACKAGE + "."))


@functools.lru_cache(maxsize=None)
def code_version(module: str) -> str:
    """Digest of the source of `module` and of every project module it imports, transitively.

    Parameters
    ----------
    module : str
        A dotted module name inside this package.
    """
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue
        seen[name] = path
        todo += [m for m in module_imports(path, name) if m not in seen]
    digest = hashlib.sha256()
    for name in sorted(seen):
        digest.update(name.encode())
        digest.update(seen[name].read_bytes())
    return digest.hexdigest()[:16]


def readable(value: Any, *, limit: int = 80) -> Any:
    """A short form of one key part for the manifest: small values as they are, large ones as a digest."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str) and len(value) <= limit:
        return value
    if isinstance(value, (list, tuple)) and len(value) <= 8 and all(
            isinstance(v, (str, int, float, bool)) and len(str(v)) <= limit for v in value):
        return list(value)
    if isinstance(value, dict) and len(str(value)) <= 4 * limit:
        return value
    return f"sha:{hash_key(value)[:12]}"


@dataclass
class Runner:
    """Runs stages on one run directory: reuse, timing, manifest.

    Parameters
    ----------
    run : RunDir
    echo : callable, optional
        Receives one line per stage (``[name] done in X s`` / ``[name] unchanged``).
    """

    run: RunDir
    echo: Callable[[str], None] | None = None
    outcomes: dict[str, StageOutcome] = field(default_factory=dict)

    def key(self, stage: Stage, ctx: Context) -> tuple[str, dict[str, Any], str]:
        """(cache key, readable key parts, code version) of `stage` in `ctx`."""
        version = code_version(type(stage).__module__)
        parts = stage.inputs(ctx)
        return hash_key(stage.name, version, parts), {k: readable(v) for k, v in parts.items()}, version

    def __call__(self, stage: Stage, ctx: Context, *, force: bool = False,
                 before: Callable[[], None] | None = None) -> StageOutcome:
        """Run `stage` unless its last result is current; returns its outcome.

        `before` is called once the stage's inputs are known to be usable (its
        key computed), before it runs or is reused: what a call writes into the
        run directory (its settings) is written only then, so a call refused
        at its inputs leaves the run as it was.
        """
        key, parts, version = self.key(stage, ctx)
        with writes_into(self.run):
            return self._reuse_or_run(stage, ctx, key, parts, version, force=force, before=before)

    def _reuse_or_run(self, stage: Stage, ctx: Context, key: str, parts: dict[str, Any], version: str, *,
                      force: bool, before: Callable[[], None] | None) -> StageOutcome:
        previous = self.run.manifest()["stages"].get(stage.name)
        reuse = (previous is not None and previous.get("key") == key and not force
                 and all(p.exists() for p in stage.output_paths(self.run)))
        if not reuse:  # a reused result needs no backend: only a stage that runs is checked
            ctx.trust.require_all(ctx.config, stage.reaches(ctx))
        if before is not None:
            before()
        if reuse:
            outcome = StageOutcome(stage.name, previous, True, stage.load(ctx))
            if self.echo:
                self.echo(f"[{stage.name}] unchanged (took {previous.get('seconds', 0):.1f} s when it ran)")
        else:
            start = time.perf_counter()
            with stage_progress(ctx.hook, stage.name):  # a start line and a heartbeat where output is a log
                facts, value = stage.run(ctx, key)
            section = {**facts, "key_parts": parts, "code_version": version,
                       "seconds": round(time.perf_counter() - start, 2)}
            # a stage with failed items is never current: the next run asks the failed ones again
            self.run.finish_stage(stage.name, key if not facts.get("failed") else f"incomplete-{key}", section)
            outcome = StageOutcome(stage.name, self.run.stage(stage.name), False, value)
            if self.echo:
                failed = f" ({facts['failed']} failed: rerun to retry them)" if facts.get("failed") else ""
                self.echo(f"[{stage.name}] done in {section['seconds']:.1f} s{failed}")
        self.outcomes[stage.name] = outcome
        if self.echo:
            for line in stage.lines(ctx, outcome):
                self.echo(line)
        if not outcome.reused and outcome.section.get("failed") and not stage.failures_allowed(ctx):
            raise incomplete(stage, outcome.section)
        return outcome


def incomplete(stage: Stage, section: dict[str, Any]) -> IncompleteStageError:
    """The error of `stage` that finished with failed items (its manifest `section`)."""
    failures = section.get("failures") or []
    example = failures[0].get("error") if failures and isinstance(failures[0], dict) else None
    name, what, run_flag = stage.name, stage.items, stage.allow_flag_of_run
    flags = f"--allow-failures on `audiodissect {name}`" + (f", {run_flag} on `audiodissect run`" if run_flag else "")
    return IncompleteStageError(
        f"the {name} stage finished with {section['failed']} failed {what}"
        + (f" (e.g. {example})" if example else "") + "; what succeeded is kept and the stage is marked incomplete",
        hint=f"run the same command again to retry only the failed {what}, or accept them ({flags}; "
             f"setting {name}.allow_failures = true)")


@contextlib.contextmanager
def writes_into(run: RunDir) -> Iterator[None]:
    """Turn an OSError of writing (a read-only run directory, no permission, a full disk) into a clear error."""
    try:
        yield
    except OSError as exc:
        if not is_write_error(exc):
            raise
        raise write_error(exc, exc.filename or run.path) from None


def check_stage_names(names: list[str] | tuple[str, ...], valid: tuple[str, ...]) -> list[str]:
    """`names` checked against the valid stage names (an unknown one is an error naming them)."""
    for name in names:
        if name not in valid:
            raise AudioDissectError(f"unknown stage {name!r}", hint="valid stages: " + ", ".join(valid))
    return list(names)
