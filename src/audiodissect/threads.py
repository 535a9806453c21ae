"""Many small tensor jobs spread over threads, each running torch on one thread of its own.

torch parallelises each operation over its intra-op threads. On the small
tensors of a dissection's per-layer work (a few hundred clips by a few
hundred units, 23 concepts) an operation is over before its threads have
much to share, and the second thread mostly waits. Running whole jobs (a
layer, a layer's named units under one evidence source) side by side, each
on one torch thread, keeps every core busy with work of its own instead: on
this project's 2-core machine, the name-stability bootstrap of YAMNet's 56
layers took 2.2-2.3 s of CPU and 1.2-1.3 s of wall time this way, against
3.4-4.0 s of CPU and 1.8-2.1 s of wall time one job at a time on two torch
threads, with the same results.

:func:`thread_map` sets torch to one intra-op thread while its jobs run
(``torch.set_num_threads`` is process-wide) and restores the setting
afterwards; torch and numpy release the interpreter's lock in their heavy
work, so the threads run in parallel. Jobs must not depend on each other's
order or share unguarded mutable state; their results come back in the
items' order.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to `n` (at least 1) inside the block, restored after it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def thread_workers(*, item_bytes: int = 0, budget: int = 1 << 30) -> int:
    """The threads for :func:`thread_map`: torch's intra-op threads, fewer when `budget` bytes hold fewer
    items of `item_bytes` each (at least 1)."""
    import torch

    workers = torch.get_num_threads()
    if item_bytes > 0:
        workers = min(workers, budget // item_bytes)
    return max(1, int(workers))


def largest_float32_bytes(shapes: Iterable[Sequence[int]]) -> int:
    """The bytes of the largest of arrays of `shapes` held as float32: the `item_bytes` of :func:`thread_workers`
    when each job holds one of them (0 for none)."""
    return max((4 * math.prod(int(n) for n in shape) for shape in shapes), default=0)


def thread_map(fn: Callable[[T], R], items: Sequence[T], *, workers: int | None = None) -> Iterator[R]:
    """``fn(item)`` of each of `items`, in order, the items spread over `workers` threads, each on one torch thread.

    A generator: each result is yielded as soon as it and those before it are
    done. torch stays on one intra-op thread until the generator is finished
    or closed, also in the calling thread between results.

    Parameters
    ----------
    fn : callable
        One job; it must not depend on the other jobs' order.
    items : sequence
    workers : int, optional
        Threads (default: :func:`thread_workers`). With one worker, or one
        item, the jobs run here one after another, torch's threads unchanged.

    Yields
    ------
    object
        The results, in the items' order. The first error a job raises is
        raised in its place; the jobs not yet started then never start.
    """
    items = list(items)
    workers = min(thread_workers() if workers is None else max(1, int(workers)), len(items))
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    with torch_threads(1), ThreadPoolExecutor(workers, thread_name_prefix="audiodissect") as pool:
        futures = [pool.submit(fn, item) for item in items]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:  # after an error, Ctrl-C or an early close: the jobs not yet started never start
                future.cancel()
