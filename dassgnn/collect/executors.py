"""Executors: where the jobs of a collection run.

All executors run the same job function (`run_in_process()`)
and yield [`JobOutcome`][dassgnn.collect.JobOutcome] objects as jobs finish, with
a bounded number in flight, so that killing the collection loses at most
those. Registered in [`EXECUTORS`][dassgnn.collect.EXECUTORS]: ``"pool"`` (a local process pool, the
default), ``"batched"`` (many students a program, for GPUs), ``"ray"`` (a Ray
cluster, ``pip install dassgnn[ray]``) and ``"serial"`` (this process, for debugging).
"""

from __future__ import annotations

import contextlib
import inspect
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from dassgnn.collect.jobs import (
    JobOutcome,
    Worker,
    init_process,
    run_batch_in_process,
    run_in_process,
)
from dassgnn.collect.plan import TeacherJob
from dassgnn.registry import Registry
from dassgnn.utils.device import check_device
from dassgnn.utils.validation import check_float, check_int

Item = tuple[Any, bytes | None]
EXECUTORS: Registry[Any] = Registry("executor")
"""The registry of executors: ``pool``, ``batched``, ``ray``, ``serial``."""


def available_cpus() -> int:
    """CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _optional_int(value: Any, name: str) -> int | None:
    return None if value is None else check_int(value, name, minimum=1)


def _default_workers(device: str) -> int:
    if device.startswith("cuda"):
        import torch

        return 4 * max(1, torch.cuda.device_count())
    return available_cpus()


WORKER_DIED = (
    "its worker process died (killed from outside: the out-of-memory killer, kill -9, ...); "
    "the pool was rebuilt and the other runs went on"
)
"""The error recorded for the run(s) of a pool worker that died."""


def _tracked(marks: str, index: int, fn: Callable, args: tuple) -> Any:
    """Runs ``fn(*args)`` in a pool worker with a mark ``<marks>/<pid>`` holding the call's
    index, so that the collector knows which call a worker that dies was running."""
    path = os.path.join(marks, str(os.getpid()))
    with open(path, "w") as fh:
        fh.write(str(index))
    try:
        return fn(*args)
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lost_calls(marks: str) -> list[int]:
    """The indices of the calls whose worker process is gone (their marks are removed)."""
    lost = []
    for name in os.listdir(marks):
        if not name.isdigit() or _alive(int(name)):
            continue
        path = os.path.join(marks, name)
        try:
            with open(path) as fh:
                lost.append(int(fh.read().strip()))
            os.remove(path)
        except (OSError, ValueError):
            continue
    return lost


def _failed(fn: Callable, args: tuple, device: str) -> list[JobOutcome]:
    """Failed outcomes of a call whose worker died: its job, or each job of a batch."""
    jobs = args[0] if fn is run_batch_in_process else [args[0]]
    return [JobOutcome(job, "failed", error=WORKER_DIED, device=device) for job in jobs]


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stops a pool now: cancels what has not started and terminates the workers (their
    SIGTERM handler exits cleanly, see `init_process`)."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=10)


def _run_in_pool(
    calls: Iterable[tuple[Callable, tuple]], workers: int, device: str, threads: int, ahead: int
) -> Iterator[JobOutcome]:
    """Submits ``fn(*args)`` for each call to a ``spawn`` pool of worker
    processes, keeping at most ``ahead`` unfinished beyond the newest, and
    yields the outcomes (a call may return one or a list) as they finish.

    A worker that dies (killed from outside: a SIGKILL leaves the mark of the call it was
    running) fails only that call ([`WORKER_DIED`][dassgnn.collect.executors.WORKER_DIED]):
    the broken pool is replaced by a new one and the other calls in flight are submitted
    again (a call in flight at three breaks fails too, so that a call that kills its worker
    cannot loop). Leaving the generator early (an error, Ctrl-C) stops the workers at once."""
    context = multiprocessing.get_context("spawn")
    # each worker watches this process and ends when it is gone (any signal)
    initargs = (device, threads, os.getpid())

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            workers, mp_context=context, initializer=init_process, initargs=initargs
        )

    with tempfile.TemporaryDirectory(prefix="dassgnn-pool-") as marks:
        pool = new_pool()
        pending: dict[Any, tuple[int, Callable, tuple]] = {}
        breaks: dict[int, int] = {}
        complete = False

        def submit(index: int, fn: Callable, args: tuple) -> None:
            future = pool.submit(_tracked, marks, index, fn, args)
            pending[future] = (index, fn, args)

        def drain(limit: int) -> Iterator[JobOutcome]:
            nonlocal pool
            while len(pending) > limit:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                broken = False
                for future in done:
                    index, fn, args = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        broken = True
                        pending[future] = (index, fn, args)  # decided below
                        continue
                    yield from result if isinstance(result, list) else [result]
                if broken:
                    victims = set(_lost_calls(marks))
                    calls_in_flight = list(pending.values())
                    pending.clear()
                    _stop(pool)
                    pool = new_pool()
                    for index, fn, args in calls_in_flight:
                        breaks[index] = breaks.get(index, 0) + 1
                        if index in victims or breaks[index] >= 3:
                            yield from _failed(fn, args, device)
                        else:
                            submit(index, fn, args)

        try:
            for index, (fn, args) in enumerate(calls):
                submit(index, fn, args)
                yield from drain(ahead)
            yield from drain(0)
            complete = True
        finally:
            if complete:  # the workers finish and exit on their own
                pool.shutdown(wait=True)
            else:  # an error or Ctrl-C: stop the runs in flight now
                _stop(pool)


@EXECUTORS.register("serial")
class SerialExecutor:
    """Runs the jobs one after another in this process.

    Args:
        device (str, optional): (default: `"cpu"`)
        threads (int, optional): Torch threads. (default: `None`, unchanged)
    """

    def __init__(self, device: str = "cpu", threads: int | None = None) -> None:
        self.device = check_device(device)
        self.workers = 1
        self.threads = _optional_int(threads, "threads")

    def run(self, items: Iterable[Item]) -> Iterator[JobOutcome]:
        """Yields each job's outcome in turn."""
        worker = Worker(self.device, self.threads)
        for job, weights in items:
            yield worker(job, weights)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(device={self.device!r})"


@EXECUTORS.register("pool")
class PoolExecutor:
    """A local pool of worker processes (``spawn``), each with its own torch
    thread count.

    Args:
        workers (int, optional): Processes. (default: the usable CPUs, or 4 per
            GPU when ``device`` is CUDA)
        device (str, optional): Torch device of every run. (default: `"cpu"`)
        threads (int, optional): Torch threads per process. (default: `1`
            on CPU, so that the workers share the cores without contention)
        in_flight (int, optional): Jobs submitted ahead. (default: ``workers + 1``)
    """

    def __init__(
        self,
        workers: int | None = None,
        device: str = "cpu",
        threads: int | None = None,
        in_flight: int | None = None,
    ) -> None:
        self.device = check_device(device)
        self.workers = _optional_int(workers, "workers") or _default_workers(device)
        threads = _optional_int(threads, "threads")
        self.threads = threads if threads is not None else (1 if device == "cpu" else 2)
        self.in_flight = _optional_int(in_flight, "in_flight") or self.workers + 1

    def run(self, items: Iterable[Item]) -> Iterator[JobOutcome]:
        """Yields outcomes as jobs finish (not in submission order)."""
        calls = ((run_in_process, item) for item in items)
        yield from _run_in_pool(calls, self.workers, self.device, self.threads, self.in_flight - 1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(workers={self.workers}, device={self.device!r}, "
            f"threads={self.threads})"
        )


def group_jobs(items: Iterable[Item], group: int) -> Iterator[Item | list[Item]]:
    """Groups student jobs for the batched trainer: up to ``group`` consecutive
    ``(job, weights)`` items that share teacher, mode, seed and recipe become one
    list; teacher items pass through alone. The collector sends jobs grouped, so
    a group closes when the next job differs or when it is full.

    Args:
        items (Iterable): ``(job, weights)`` pairs.
        group (int): Largest group.

    Yields:
        A teacher ``(job, weights)`` item, or a list of student items.
    """
    buffer: list[Item] = []
    current = None
    for job, weights in items:
        if isinstance(job, TeacherJob):
            yield job, weights
            continue
        key = (job.teacher.teacher_id, job.mode, job.seed, job.recipe)
        if buffer and (key != current or len(buffer) == group):
            yield buffer
            buffer = []
        current = key
        buffer.append((job, weights))
    if buffer:
        yield buffer


@EXECUTORS.register("batched")
class BatchedExecutor:
    """Trains student runs that share teacher, mode, seed and recipe ``group`` at a
    time in one program ([`train_batched()`][dassgnn.kd.train_batched]), in a pool
    of processes; teacher jobs run one a process as in
    [`PoolExecutor`][dassgnn.collect.PoolExecutor].
    Meant for GPUs, where the per-student loop is launch-bound; records say
    ``trainer = "batched"``.

    Args:
        workers (int, optional): Processes. (default: 1, or 1 per GPU with CUDA)
        device (str, optional): Torch device. (default: `"cpu"`)
        group (int, optional): Students a program. (default: `16`)
        threads (int, optional): Torch CPU threads a process. (default: all usable CPUs
            divided among the workers)
    """

    def __init__(
        self,
        workers: int | None = None,
        device: str = "cpu",
        group: int = 16,
        threads: int | None = None,
    ) -> None:
        self.device = check_device(device)
        if device.startswith("cuda"):
            import torch

            default = max(1, torch.cuda.device_count())
        else:
            default = 1
        self.workers = _optional_int(workers, "workers") or default
        self.group = check_int(group, "group", minimum=1)
        threads = _optional_int(threads, "threads")
        self.threads = threads or max(1, available_cpus() // self.workers)

    def run(self, items: Iterable[Item]) -> Iterator[JobOutcome]:
        """Yields outcomes as programs finish."""

        def calls() -> Iterator[tuple[Callable, tuple]]:
            for unit in group_jobs(items, self.group):
                if isinstance(unit, list):
                    yield run_batch_in_process, ([job for job, _ in unit], unit[0][1])
                else:
                    yield run_in_process, unit

        yield from _run_in_pool(calls(), self.workers, self.device, self.threads, self.workers)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(workers={self.workers}, device={self.device!r}, "
            f"group={self.group})"
        )


@EXECUTORS.register("ray")
class RayExecutor:
    """Runs the jobs as Ray tasks, on a running cluster or a local instance.

    Args:
        workers (int, optional): Tasks in flight. (default: the cluster's CPUs, or
            4 per GPU with ``device="cuda"``)
        device (str, optional): Torch device of every run. (default: `"cpu"`)
        address (str, optional): Cluster address for ``ray.init``; `None`
            connects to ``RAY_ADDRESS`` if set, else starts a local instance.
        threads (int, optional): Torch threads per task. (default: `1`)
        num_gpus (float, optional): GPU share per task with CUDA. (default: `0.25`)
    """

    def __init__(
        self,
        workers: int | None = None,
        device: str = "cpu",
        address: str | None = None,
        threads: int | None = None,
        num_gpus: float = 0.25,
        **ray_init: Any,
    ) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ImportError("the Ray executor needs Ray: pip install 'dassgnn[ray]'") from None
        for option in ("group", "in_flight"):
            if option in ray_init:
                raise ValueError(f"the 'ray' executor has no option {option!r}")
        # a cluster elsewhere may have the device this machine lacks
        local = address is None and not os.environ.get("RAY_ADDRESS")
        self.device = check_device(device, local=local)
        if address is not None and (not isinstance(address, str) or not address):
            raise TypeError(f"address must be a non-empty string, got {address!r}")
        self.address = address
        self.threads = _optional_int(threads, "threads") or 1
        num_gpus = check_float(num_gpus, "num_gpus", minimum=0.0)
        self.num_gpus = num_gpus if device.startswith("cuda") else 0
        self.ray_init = ray_init
        self.workers = _optional_int(workers, "workers")

    def run(self, items: Iterable[Item]) -> Iterator[JobOutcome]:
        """Yields outcomes as Ray tasks finish."""
        import ray

        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, **self.ray_init}
            if self.address is None and self.workers:
                kwargs.setdefault("num_cpus", self.workers)
            ray.init(address=self.address, **kwargs)
        workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote = ray.remote(num_cpus=self.threads, num_gpus=self.num_gpus)(_ray_job)
        pending = []
        for job, weights in items:
            pending.append(remote.remote(job, weights, self.device, self.threads))
            if len(pending) >= workers + 1:
                done, pending = ray.wait(pending, num_returns=1)
                yield from ray.get(done)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield from ray.get(done)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(address={self.address!r}, device={self.device!r})"


def _ray_job(job: Any, weights: bytes | None, device: str, threads: int) -> JobOutcome:
    init_process(device, threads)
    return run_in_process(job, weights)


def create_executor(name: str = "pool", **kwargs: Any) -> Any:
    """Creates the executor registered under ``name`` (see
    [`EXECUTORS`][dassgnn.collect.EXECUTORS]).

    Args:
        name (str, optional): ``"pool"``, ``"batched"``, ``"ray"`` or ``"serial"``.
            (default: `"pool"`)
        **kwargs: The executor's options (``workers``, ``device``, ...).

    Returns:
        The executor.

    Raises:
        KeyError: If ``name`` is not registered.
        ValueError: If an option does not apply to this executor (e.g. ``group``
            with ``"pool"``) or has a bad value (e.g. ``workers=0``), or the
            device is not usable.
    """
    factory = EXECUTORS.get(name)
    params = inspect.signature(factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        bad = sorted(set(kwargs) - set(params))
        if bad:
            raise ValueError(
                f"the {name!r} executor has no option {', '.join(map(repr, bad))}; "
                f"its options: {', '.join(params)}"
            )
    return factory(**kwargs)
