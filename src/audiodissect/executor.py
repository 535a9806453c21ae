"""One executor interface for embarrassingly parallel work: in process by default, on Ray when asked.

A stage hands an executor a function and a list of items (clip shards, unit
blocks, concepts); the executor returns the function's results in the
items' order. Work that needs a heavy object per worker (a model replica)
also passes ``setup``, a function that builds that object: each worker
calls it once and then calls ``fn(state, item)`` for every item it is
given.

:class:`LocalExecutor` runs everything in this process, in order, and needs
nothing beyond the package. :class:`RayExecutor` runs plain items as Ray
tasks and stateful items on a pool of Ray actors (one ``setup`` per actor,
i.e. one model replica per worker, on a GPU when ``gpus_per_worker`` asks
for one). ``setup`` and ``fn`` travel with cloudpickle, ``setup`` once
through the object store however many workers there are, so a model built
in the driver (a user's own module included) reaches every worker without
a factory. A worker process that dies (killed, out of memory, node lost) is
replaced and its item run again, up to ``max_retries`` times; errors raised
by ``fn`` itself are not retried. Functions given to an executor must
therefore be idempotent: write their outputs atomically and complete
(see :mod:`audiodissect.record.stage`), so a retried item replaces, never
adds to, what an interrupted attempt left.

Ray is an optional dependency (``pip install 'audiodissect[ray]'``),
imported only when a :class:`RayExecutor` first runs work.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from .errors import AudioDissectError
from .progress import ProgressHook, silent

T = TypeVar("T")
R = TypeVar("R")

#: The executors ``executor.name`` may choose.
EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Maps a function over items, in order; see the module docstring."""

    name: str
    #: GPUs each stateful worker holds (0: CPU only); stages put their replicas on ``cuda`` when positive.
    gpus_per_worker: float

    def map(self, fn: Callable[..., R], items: Sequence[T], *,
            setup: Callable[[], Any] | None = None) -> Iterator[R]:
        """Results of ``fn(item)`` (or ``fn(state, item)`` with ``state = setup()`` per worker), in item order."""
        ...

    def describe(self) -> str:
        """A short line saying where the work runs."""
        ...

    def state(self, here: Any, ship: Callable[[Any], Callable[[], Any]]) -> Callable[[], Any]:
        """The ``setup`` of stateful work: `here` itself in this process, rebuilt on each worker elsewhere.

        `here` is the state as the calling process holds it (a model and the
        clips, already loaded). ``ship(here)`` is called in this process only
        when the work runs elsewhere, and returns the ``setup`` that builds the
        same state on a worker from what can travel (a CPU copy of the model,
        the clips' sources), on the worker's own device.
        """
        ...

    def progress(self, hook: ProgressHook) -> tuple[ProgressHook, ProgressHook]:
        """(hook for the work itself, hook for finished items): which of the two reports progress.

        In this process the work reports as it goes (fine-grained, e.g. per
        batch); on workers it cannot reach the caller's terminal, so the
        caller reports each finished item instead. The other hook is silent.
        """
        ...


class LocalExecutor:
    """Runs every item in this process, in order; ``setup`` is called once, only if there are items."""

    name = "local"
    gpus_per_worker = 0.0

    def map(self, fn: Callable[..., R], items: Sequence[T], *,
            setup: Callable[[], Any] | None = None) -> Iterator[R]:
        items = list(items)
        if not items:
            return
        if setup is None:
            for item in items:
                yield fn(item)
            return
        state = setup()
        for item in items:
            yield fn(state, item)

    def describe(self) -> str:
        return "in this process"

    def state(self, here: Any, ship: Callable[[Any], Callable[[], Any]]) -> Callable[[], Any]:
        return shared_state(here)

    def progress(self, hook: ProgressHook) -> tuple[ProgressHook, ProgressHook]:
        return hook, silent


#: Seconds a Ray cluster's address has to accept a connection, then to complete Ray's own handshake: an
#: address that never answers fails within RAY_CONNECT_TIMEOUT_S, one that answers but is no Ray cluster
#: within RAY_CONNECT_TIMEOUT_S + RAY_JOIN_TIMEOUT_S (Ray alone would keep retrying).
RAY_CONNECT_TIMEOUT_S = 10.0
RAY_JOIN_TIMEOUT_S = 60.0


def ray_endpoint(address: str) -> tuple[str, int] | None:
    """(host, port) of a cluster address (``host:port``, ``ray://host:port``); None for ``auto``/``local``."""
    text = address.strip()
    if text in ("auto", "local", ""):
        return None
    host, sep, port = text.removeprefix("ray://").rstrip("/").rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise AudioDissectError(f"the Ray address {address!r} is not host:port, ray://host:port or auto",
                                hint="e.g. --ray-address 10.0.0.5:6379, --ray-address ray://10.0.0.5:10001")
    return host.strip("[]"), int(port)


def join_cluster(ray: Any, address: str, options: dict[str, Any], *, connect_timeout: float = RAY_CONNECT_TIMEOUT_S,
                 join_timeout: float = RAY_JOIN_TIMEOUT_S) -> None:
    """``ray.init(address=...)`` within stated times: the address must accept a TCP connection within
    `connect_timeout` seconds, and Ray must have joined within `join_timeout` more.

    Raises
    ------
    TimeoutError, ConnectionError
        Saying which step did not finish in time.
    """
    import socket
    import threading

    endpoint = ray_endpoint(address)
    if endpoint is not None:
        try:
            socket.create_connection(endpoint, timeout=connect_timeout).close()
        except OSError as exc:
            raise ConnectionError(f"no connection to {endpoint[0]}:{endpoint[1]} within {connect_timeout:g} s "
                                  f"({exc})") from None
    outcome: dict[str, BaseException] = {}

    def init() -> None:
        try:
            ray.init(address=address, **options)
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=init, name="ray-join", daemon=True)
    thread.start()
    thread.join(join_timeout)
    if thread.is_alive():
        raise TimeoutError(f"{address} accepts connections but Ray did not join it within {join_timeout:g} s "
                           "(is it a Ray head node, with the same Ray version?)")
    if "error" in outcome:
        raise outcome["error"]


class RayExecutor:
    """Runs items on a Ray cluster: plain items as tasks, stateful items on a pool of actors.

    Parameters
    ----------
    address : str, optional
        The cluster to join (``"auto"`` for the one ``ray start`` made on this
        machine, ``"ray://host:10001"``, ``"host:6379"``); None starts a local
        Ray instance in this process unless one is already running.
    num_cpus : int, optional
        CPUs of a local instance started here (default: all); ignored when
        joining a cluster.
    gpus_per_worker : float
        GPUs per stateful worker (model replica); 0 runs them on CPUs.
    cpus_per_worker : float
        CPUs per task and per worker.
    workers : int, optional
        Most stateful workers at once (default: as many as the cluster's CPUs,
        or GPUs when `gpus_per_worker` is positive, allow; never more than items).
    max_retries : int
        Times an item is run again after its worker process died.
    runtime_env : dict, optional
        Ray's runtime environment for the workers (e.g. ``{"py_modules": [...]}`` or
        ``{"env_vars": {"PYTHONPATH": ...}}`` so they can import your own model
        code); used when this executor starts or joins Ray.

    Raises
    ------
    AudioDissectError
        On bad numbers here; when Ray is not installed, at the first :meth:`map`.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None, gpus_per_worker: float = 0.0,
                 cpus_per_worker: float = 1.0, workers: int | None = None, max_retries: int = 3,
                 runtime_env: dict[str, Any] | None = None):
        for what, value, low in (("gpus_per_worker", gpus_per_worker, 0), ("cpus_per_worker", cpus_per_worker, 0),
                                 ("max_retries", max_retries, 0)):
            if value < low:
                raise AudioDissectError(f"{what} must be at least {low}, got {value!r}")
        if workers is not None and workers < 1:
            raise AudioDissectError(f"workers must be at least 1, got {workers!r}")
        if num_cpus is not None and num_cpus < 1:
            raise AudioDissectError(f"num_cpus must be at least 1, got {num_cpus!r}")
        if gpus_per_worker == 0 and cpus_per_worker == 0:
            raise AudioDissectError("a worker needs some CPUs or GPUs", hint="set cpus_per_worker or gpus_per_worker")
        self.address = address
        self.num_cpus = num_cpus
        self.gpus_per_worker = float(gpus_per_worker)
        self.cpus_per_worker = float(cpus_per_worker)
        self.workers = workers
        self.max_retries = int(max_retries)
        self.runtime_env = runtime_env

    # -- Ray itself ---------------------------------------------------------------
    def _ray(self) -> Any:
        ray = import_ray()
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                                       "configure_logging": True}
            if self.address is None:
                options["num_cpus"] = self.num_cpus
            if self.runtime_env is not None:
                options["runtime_env"] = self.runtime_env
            hint = ("start one with `ray start --head` (then use --ray-address auto), or leave the address out "
                    "to start Ray on this machine")
            try:
                if self.address is None:
                    ray.init(**options)
                else:
                    join_cluster(ray, self.address, options)
            except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
                raise AudioDissectError(f"cannot reach the Ray cluster at {self.address!r}: {exc}",
                                        hint=hint) from None
        return ray

    def worker_count(self, n_items: int) -> int:
        """Stateful workers for `n_items` items: `workers`, else what the cluster's resources allow."""
        if self.workers is not None:
            return max(1, min(self.workers, n_items))
        resources = self._ray().cluster_resources()
        if self.gpus_per_worker > 0:
            fit = resources.get("GPU", 0) / self.gpus_per_worker
            if fit < 1:
                raise AudioDissectError(f"gpus_per_worker={self.gpus_per_worker:g} but the Ray cluster has "
                                        f"{resources.get('GPU', 0):g} GPUs", hint="join GPU nodes, or set it to 0")
        else:
            fit = resources.get("CPU", 1) / max(self.cpus_per_worker, 1e-9)
        return max(1, min(int(fit), n_items))

    # -- the work ------------------------------------------------------------------
    def map(self, fn: Callable[..., R], items: Sequence[T], *,
            setup: Callable[[], Any] | None = None) -> Iterator[R]:
        items = list(items)
        if not items:
            return
        ray = self._ray()
        if setup is None:
            remote = ray.remote(_call).options(num_cpus=self.cpus_per_worker, max_retries=self.max_retries,
                                               retry_exceptions=False)
            fn_ref = ray.put(fn)
            refs = [remote.remote(fn_ref, item) for item in items]
            for ref in refs:
                yield _get(ray, ref)
            return
        actor = ray.remote(_Replica).options(num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker,
                                             max_restarts=self.max_retries, max_task_retries=self.max_retries)
        setup_ref, fn_ref = ray.put(setup), ray.put(fn)
        pool = [actor.remote(setup_ref, fn_ref) for _ in range(self.worker_count(len(items)))]
        try:
            yield from _in_order(ray, pool, items)
        finally:
            for handle in pool:
                ray.kill(handle)

    def describe(self) -> str:
        where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
        gpus = f", {self.gpus_per_worker:g} GPU per worker" if self.gpus_per_worker else ""
        return f"on {where}{gpus}"

    def state(self, here: Any, ship: Callable[[Any], Callable[[], Any]]) -> Callable[[], Any]:
        return ship(here)

    def progress(self, hook: ProgressHook) -> tuple[ProgressHook, ProgressHook]:
        return silent, hook


def _call(fn: Callable[[T], R], item: T) -> R:
    return fn(item)


class _Replica:
    """A Ray actor: builds the worker's state once (``setup()``), then runs ``fn(state, item)`` per call."""

    def __init__(self, setup: Callable[[], Any], fn: Callable[[Any, T], R]):
        self.state = setup()
        self.fn = fn

    def run(self, item: T) -> R:
        return self.fn(self.state, item)


def _in_order(ray: Any, pool: list[Any], items: list[T]) -> Iterator[Any]:
    """Results of ``pool`` actors' ``run`` over `items`, in item order; an idle actor takes the next item."""
    pending: dict[Any, tuple[int, Any]] = {}
    done: dict[int, Any] = {}
    following, given = 0, 0
    idle = list(pool)
    while following < len(items):
        while idle and given < len(items):
            handle = idle.pop()
            pending[handle.run.remote(items[given])] = (given, handle)
            given += 1
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        index, handle = pending.pop(ref)
        done[index] = _get(ray, ref)
        idle.append(handle)
        while following in done:
            yield done.pop(following)
            following += 1


def _get(ray: Any, ref: Any) -> Any:
    """``ray.get(ref)``, with an error raised by the project's own code re-raised as itself."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, AudioDissectError):
            raise cause from None
        raise


def import_ray() -> Any:
    """The ``ray`` module, or an error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise AudioDissectError("the Ray executor needs Ray, which is not installed",
                                hint="pip install 'audiodissect[ray]' (or pip install 'ray[data]'), or use the "
                                     "local executor") from None
    return ray


def make_executor(config: Any = None) -> Executor:
    """The executor an :class:`~audiodissect.config.ExecutorConfig` (or None: local) asks for."""
    if config is None or config.name == "local":
        return LocalExecutor()
    if config.name == "ray":
        return RayExecutor(config.ray_address, num_cpus=config.ray_num_cpus, gpus_per_worker=config.gpus_per_worker,
                           cpus_per_worker=config.cpus_per_worker, workers=config.workers,
                           max_retries=config.max_retries)
    from .errors import unknown_name_error

    raise unknown_name_error("executor", config.name, EXECUTORS)


def worker_device() -> str:
    """The torch device a worker puts its model replica on: ``cuda`` when it was given a GPU, else ``cpu``.

    Ray hides the GPUs from workers that were not given one, so a worker
    sees CUDA exactly when its ``gpus_per_worker`` asked for it.
    """
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def shared_state(value: Any) -> Callable[[], Any]:
    """A ``setup`` that gives every worker `value`: itself in this process, a copy sent once on Ray."""
    return functools.partial(_itself, value)


def _itself(value: Any) -> Any:
    return value


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "import_ray", "make_executor", "shared_state",
           "worker_device"]
