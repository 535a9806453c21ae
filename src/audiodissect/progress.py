"""Progress reporting: one hook signature for every stage.

A stage reports progress by calling ``hook(stage, artefact, completed=, total=)``.
The default hook draws a tqdm bar on stderr (hidden when stderr is not a
terminal unless ``AUDIODISSECT_PROGRESS=1``); pass :func:`silent` to turn it off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")


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


def _bars_wanted() -> bool:
    flag = os.environ.get("AUDIODISSECT_PROGRESS")
    if flag is not None:
        return flag not in ("0", "", "false", "no")
    return sys.stderr.isatty()


def default_hook() -> ProgressHook:
    """The hook used when a caller passes none."""
    return TqdmHook()


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
