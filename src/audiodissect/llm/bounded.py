"""Run a function over many items with at most N calls in flight, results as they finish."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from ..errors import AudioDissectError

T = TypeVar("T")
R = TypeVar("R")


def check_concurrency(concurrency: int) -> int:
    """`concurrency` as an int of at least 1, else an error."""
    if int(concurrency) != concurrency or concurrency < 1:
        raise AudioDissectError(f"concurrency must be a whole number of at least 1, got {concurrency!r}",
                                hint="1 sends one request at a time; 4 to 16 suit a vLLM or llama.cpp server")
    return int(concurrency)


def iter_bounded(fn: Callable[[int, T], R], items: Sequence[T], *, concurrency: int,
                 on_stop: Callable[[], None] | None = None) -> Iterator[R]:
    """Yield ``fn(i, items[i])`` for every item, in the order the calls finish.

    At most `concurrency` calls run at once (threads); with 1 they run one
    after the other in the caller's thread. Items are handed out in order,
    one more each time a call finishes, so a call that fails for good stops
    the hand-out: the calls already running finish and are yielded, then
    the first error is raised.

    Parameters
    ----------
    fn : callable ``(index, item) -> result``
    items : sequence, length M
    concurrency : int
        Most calls in flight.
    on_stop : callable, optional
        Called when the consumer stops early or is interrupted (e.g. Ctrl-C,
        or the generator is closed), to cut the running calls short.

    Yields
    ------
    result
        M results when nothing fails.
    """
    concurrency = check_concurrency(concurrency)
    if concurrency == 1 or len(items) <= 1:
        for i, item in enumerate(items):
            yield fn(i, item)
        return
    pool = ThreadPoolExecutor(max_workers=min(concurrency, len(items)), thread_name_prefix="audiodissect-http")
    pending: set[Future] = set()
    next_index = 0
    first_error: BaseException | None = None
    finished = False

    def submit() -> None:
        nonlocal next_index
        pending.add(pool.submit(fn, next_index, items[next_index]))
        next_index += 1

    try:
        while next_index < len(items) and len(pending) < concurrency:
            submit()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                pending.discard(future)
                error = future.exception()
                if error is not None:
                    first_error = first_error or error
                    continue
                yield future.result()
                if first_error is None and next_index < len(items):
                    submit()
        if first_error is not None:
            raise first_error
        finished = True
    finally:
        if not finished and first_error is None and on_stop is not None:
            on_stop()  # interrupted or closed early: stop what is running
        for future in pending:
            future.cancel()
        pool.shutdown(wait=finished or first_error is not None, cancel_futures=True)


def map_bounded(fn: Callable[[T], R], items: Sequence[T], *, max_concurrency: int) -> list[R]:
    """``[fn(x) for x in items]`` with at most `max_concurrency` calls running at once, in order."""
    items = list(items)
    results: list = [None] * len(items)
    for i, value in iter_bounded(lambda i, x: (i, fn(x)), items, concurrency=max_concurrency):
        results[i] = value
    return results
