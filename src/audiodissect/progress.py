"""Progress reporting: one hook signature for every stage.

A stage reports progress by calling ``hook(stage, artefact, completed=, total=)``.
Two hooks draw it:

- :class:`TqdmHook`: a tqdm bar per (stage, artefact) on stderr, for a terminal;
- :class:`LineHook`: plain, rate-limited lines for a log file, a pipe, ``nohup``,
  CI or a cluster scheduler: one line when a stage starts, a progress line at most
  every ``interval`` seconds while it runs, and a "still running" line when nothing
  was said for ``interval`` seconds (a heartbeat thread), so that a long stage
  is never silent for longer than that.

:func:`default_hook` picks one: the hook set with :func:`using` (the command
line sets one for every command), else ``AUDIODISSECT_PROGRESS`` (``0`` or
``off``: nothing; ``1`` or ``bars``: tqdm bars; ``lines``: lines on stderr),
else bars when stderr is a terminal and otherwise lines through the
``audiodissect.progress`` logger at INFO level (shown when your logging
configuration shows INFO: ``logging.basicConfig(level=logging.INFO)``).
``AUDIODISSECT_PROGRESS_INTERVAL`` sets the lines' interval in seconds
(default 30). Pass :func:`silent` to turn progress off.

The stage runner tells a hook when a stage starts and ends through
:func:`stage_progress` (hooks with a ``stage(name)`` context manager, as
:class:`LineHook` has, use it; others ignore it).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TextIO, TypeVar

T = TypeVar("T")

#: Seconds between two progress lines, and the silence after which a running stage says it still runs.
DEFAULT_INTERVAL = 30.0

logger = logging.getLogger("audiodissect.progress")


class ProgressHook(Protocol):
    def __call__(self, stage: str, artefact: str | None = None, *, completed: int, total: int | None) -> None: ...


def silent(stage: str, artefact: str | None = None, *, completed: int, total: int | None) -> None:
    """A progress hook that reports nothing."""


class TqdmHook:
    """A progress hook that draws one tqdm bar per (stage, artefact)."""

    def __init__(self) -> None:
        self._bars: dict[tuple[str, str | None], object] = {}

    def __call__(self, stage: str, artefact: str | None = None, *, completed: int, total: int | None) -> None:
        from tqdm.auto import tqdm

        key = (stage, artefact)
        bar = self._bars.get(key)
        if bar is None:
            desc = stage if artefact is None else f"{stage} {artefact}"
            bar = tqdm(total=total, desc=desc, unit="it", leave=False, file=sys.stderr,
                       disable=not _bars_wanted())
            self._bars[key] = bar
        bar.n = completed  # type: ignore[attr-defined]
        bar.refresh()  # type: ignore[attr-defined]
        if total is not None and completed >= total:
            bar.close()  # type: ignore[attr-defined]
            del self._bars[key]


def duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 5 s"``, ``"2 h 4 min"``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class LineHook:
    """Progress as plain lines, rate-limited: for output that is not a terminal.

    Lines (each prefixed with the time of day when `timestamps`)::

        12:00:01 [record] started
        12:00:31 [record] 512/2006 (26 %), 30 s, about 1 min 27 s left
        12:01:31 [summarize] still running after 1 min (last: summarize extractive 40/1265)
        12:02:05 [record] finished in 2 min 4 s

    Parameters
    ----------
    write : callable, optional
        Receives each line (default: the ``audiodissect.progress`` logger at INFO).
    interval : float
        Fewest seconds between two progress lines, over every stage and artefact;
        also the silence after which a running stage prints a "still running" line.
    timestamps : bool
        Prefix each line with the time of day (``HH:MM:SS``).
    end_lines : bool
        Say when a stage finishes (off where the caller says it already, as the
        command line's ``[stage] done in X s`` lines do).
    clock : callable
        Seconds, monotonic (a test's fake clock).
    """

    def __init__(self, write: Callable[[str], None] | None = None, *, interval: float = DEFAULT_INTERVAL,
                 timestamps: bool = False, end_lines: bool = True, clock: Callable[[], float] = time.monotonic):
        if not interval > 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self._write = write
        self.interval = float(interval)
        self.timestamps = timestamps
        self.end_lines = end_lines
        self.clock = clock
        self._lock = threading.RLock()
        self._last_line = -float("inf")
        self._started: dict[tuple[str, str | None], float] = {}
        self._said: set[tuple[str, str | None]] = set()
        #: the last progress reported: (stage, artefact, completed, total, when it started, when reported)
        self._last: tuple[str, str | None, int, int | None, float, float] | None = None

    @property
    def enabled(self) -> bool:
        """Whether the lines go anywhere (a logger that drops INFO records makes them pointless)."""
        return self._write is not None or logger.isEnabledFor(logging.INFO)

    def emit(self, text: str) -> None:
        """Write one line now (not rate-limited)."""
        with self._lock:
            self._last_line = self.clock()
            line = f"{time.strftime('%H:%M:%S')} {text}" if self.timestamps else text
            (self._write or logger.info)(line)

    def _progress_line(self, now: float) -> str:
        """The line of the last progress reported: how far, how long, about how long left."""
        stage, artefact, completed, total, start, _ = self._last  # type: ignore[misc]
        elapsed = now - start
        text = f"[{stage}] {artefact + ' ' if artefact else ''}{completed}" + (f"/{total}" if total is not None else "")
        if total:
            text += f" ({100 * completed / total:.0f} %), {duration(elapsed)}"
            if completed > 0:
                text += f", about {duration(elapsed * (total - completed) / completed)} left"
        else:
            text += f", {duration(elapsed)}"
        return text

    def __call__(self, stage: str, artefact: str | None = None, *, completed: int, total: int | None) -> None:
        if not self.enabled:
            return
        key = (stage, artefact)
        with self._lock:
            now = self.clock()
            start = self._started.setdefault(key, now)
            self._last = (stage, artefact, int(completed), total, start, now)
            if total is not None and completed >= total:
                del self._started[key]
                if key in self._said:
                    self._said.discard(key)
                    label = f"{artefact} " if artefact else ""
                    self.emit(f"[{stage}] {label}{completed}/{total} done in {duration(now - start)}")
                return
            if completed == 0 or now - self._last_line < self.interval:
                return
            self._said.add(key)
            self.emit(self._progress_line(now))

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Say that stage `name` starts, say how far it is (or that it still runs) whenever it has been silent
        for `interval` seconds, and (with `end_lines`) when it ends."""
        if not self.enabled:
            yield
            return
        start = self.clock()
        self.emit(f"[{name}] started")
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(min(self.interval, 5.0) / 2):
                with self._lock:
                    now = self.clock()
                    if now - self._last_line < self.interval:
                        continue
                    last = self._last
                    if last is not None and last[5] > self._last_line and 0 < last[2] and (
                            last[3] is None or last[2] < last[3]):  # progress since the last line: say how far
                        self._said.add((last[0], last[1]))
                        self.emit(self._progress_line(now))
                    else:
                        seen = f" (last: {last[0]}{' ' + last[1] if last[1] else ''} {last[2]}" \
                               f"{'/' + str(last[3]) if last[3] is not None else ''})" if last else ""
                        self.emit(f"[{name}] still running after {duration(now - start)}{seen}")

        thread = threading.Thread(target=beat, name=f"audiodissect-heartbeat-{name}", daemon=True)
        thread.start()
        ok = False
        try:
            yield
            ok = True
        finally:
            stop.set()
            thread.join()
            if self.end_lines:
                self.emit(f"[{name}] {'finished in' if ok else 'stopped after'} {duration(self.clock() - start)}")
            with self._lock:
                self._last = None


def stage_progress(hook: object, name: str) -> contextlib.AbstractContextManager:
    """`hook`'s context for a running stage `name` (:meth:`LineHook.stage`), or one that does nothing."""
    stage = getattr(hook, "stage", None)
    return stage(name) if callable(stage) else contextlib.nullcontext()


def _bars_wanted() -> bool:
    flag = os.environ.get("AUDIODISSECT_PROGRESS")
    if flag is not None and flag.strip().lower() not in ("lines", ""):
        return flag.strip().lower() not in ("0", "false", "no", "off")
    return sys.stderr.isatty()


def env_interval() -> float:
    """``AUDIODISSECT_PROGRESS_INTERVAL`` in seconds (default :data:`DEFAULT_INTERVAL`)."""
    text = os.environ.get("AUDIODISSECT_PROGRESS_INTERVAL", "").strip()
    try:
        value = float(text) if text else DEFAULT_INTERVAL
    except ValueError:
        value = DEFAULT_INTERVAL
    return value if value > 0 else DEFAULT_INTERVAL


def env_mode() -> str | None:
    """What ``AUDIODISSECT_PROGRESS`` asks for: ``"off"``, ``"bars"``, ``"lines"``, or None when unset."""
    flag = os.environ.get("AUDIODISSECT_PROGRESS")
    if flag is None or not flag.strip():
        return None
    flag = flag.strip().lower()
    if flag == "lines":
        return "lines"
    return "off" if flag in ("0", "false", "no", "off") else "bars"


def print_to(stream: TextIO) -> Callable[[str], None]:
    """A `write` for :class:`LineHook` that prints each line to `stream` and flushes it."""
    def write(line: str) -> None:
        print(line, file=stream, flush=True)

    return write


_CONFIGURED: contextvars.ContextVar[ProgressHook | None] = contextvars.ContextVar("audiodissect_progress",
                                                                                   default=None)


@contextlib.contextmanager
def using(hook: ProgressHook) -> Iterator[ProgressHook]:
    """Make `hook` what :func:`default_hook` returns inside the ``with`` block."""
    token = _CONFIGURED.set(hook)
    try:
        yield hook
    finally:
        _CONFIGURED.reset(token)


def default_hook() -> ProgressHook:
    """The hook used when a caller passes none (see the module docstring for the rule)."""
    configured = _CONFIGURED.get()
    if configured is not None:
        return configured
    mode = env_mode()
    if mode == "off":
        return silent
    if mode == "lines":
        return LineHook(print_to(sys.stderr), interval=env_interval(), timestamps=True)
    if mode == "bars" or sys.stderr.isatty():
        return TqdmHook()
    return LineHook(interval=env_interval())


def track(items: Iterable[T], stage: str, *, total: int | None = None,
          hook: ProgressHook | None = None, artefact: str | None = None) -> Iterator[T]:
    """Iterate over `items`, reporting each step to `hook`."""
    hook = hook or default_hook()
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    hook(stage, artefact, completed=0, total=total)
    done = 0
    for item in items:
        yield item
        done += 1
        hook(stage, artefact, completed=done, total=total)
