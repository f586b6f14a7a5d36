"""The job function that every executor runs, in a worker process or a Ray task."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import torch

from dassgnn.collect.plan import StudentJob, TeacherJob
from dassgnn.data import DatasetSplits
from dassgnn.kd import TeacherCache, distill, train_scratch, train_teacher
from dassgnn.records.codec import decode_state_dict, encode_state_dict
from dassgnn.space import space_from_dict

TRAINER = "loop"
"""Names of the trainers in the records' ``trainer`` column."""
BATCHED_TRAINER = "batched"


@dataclass
class JobOutcome:
    """What a job sends back to the collector, which records it.

    Attributes:
        job (TeacherJob or StudentJob): The job.
        status (str): ``"ok"`` or ``"failed"``.
        result (dict, optional): [`TrainResult.to_dict()`][dassgnn.kd.TrainResult.to_dict] of a
            finished run.
        error (str, optional): The error of a failed run (type, message, last frames).
        weights (bytes, optional): A teacher's float16 state dict.
        wall_time (float): Seconds spent, failures included.
        device (str): Where it ran. host (str): The machine.
        trainer (str): ``"loop"`` (one student a program) or ``"batched"``.
    """

    job: TeacherJob | StudentJob
    status: str
    result: dict[str, Any] | None = None
    error: str | None = None
    weights: bytes | None = None
    wall_time: float = 0.0
    device: str = "cpu"
    host: str = field(default_factory=socket.gethostname)
    trainer: str = TRAINER


class Worker:
    """Runs jobs, keeping the last tasks' data and the teacher's cached logits
    between jobs of one process (jobs arrive grouped by task and seed).

    Args:
        device (str, optional): Torch device of the runs. (default: `"cpu"`)
        threads (int, optional): Torch CPU threads of this process; several
            workers sharing few cores should take one each. (default: `None`, unchanged)
    """

    def __init__(self, device: str = "cpu", threads: int | None = None) -> None:
        self.device = device
        self.threads = threads
        if threads:
            torch.set_num_threads(threads)
        self._data: dict[str, DatasetSplits] = {}
        self._teacher: tuple[tuple, TeacherCache] | None = None

    def data(self, job: TeacherJob) -> DatasetSplits:
        """The task's data, loaded once per process (two tasks kept)."""
        key = job.task.key
        if key not in self._data:
            if len(self._data) >= 2:
                self._data.pop(next(iter(self._data)))
            self._data[key] = job.task.load()
        return self._data[key]

    def teacher(self, job: StudentJob, weights: bytes) -> TeacherCache:
        """The job's teacher wrapped in a cache of its logits for the job's seed."""
        key = (job.teacher.teacher_id, job.seed, job.recipe.key)
        if self._teacher is None or self._teacher[0] != key:
            space = space_from_dict(job.teacher.space)
            data = self.data(job.teacher)
            model = space.build(space.teacher, data.num_classes, data.channels)
            model.load_state_dict(decode_state_dict(weights))
            self._teacher = (key, TeacherCache(model.to(self.device)))
        return self._teacher[1]

    def __call__(self, job: TeacherJob | StudentJob, weights: bytes | None = None) -> JobOutcome:
        """Runs one job; any exception becomes a ``failed`` outcome with its reason."""
        start = time.perf_counter()
        try:
            if isinstance(job, TeacherJob):
                return self._teacher_job(job, start)
            return self._student_job(job, weights, start)
        except Exception as error:  # recorded, and the collection goes on
            frames = traceback.format_exception(type(error), error, error.__traceback__)
            text = f"{type(error).__name__}: {error}\n" + "".join(frames[-3:])
            if "out of memory" in str(error).lower() and torch.cuda.is_available():
                torch.cuda.empty_cache()
            return JobOutcome(
                job,
                "failed",
                error=text[-4000:],
                wall_time=time.perf_counter() - start,
                device=self.device,
            )

    def batch(self, jobs: list[StudentJob], weights: bytes | None) -> list[JobOutcome]:
        """Runs student jobs that share task, teacher, mode, seed and recipe in one
        program with [`train_batched()`][dassgnn.kd.train_batched]; if the whole
        batch fails, every job gets the failure."""
        from dassgnn.kd import train_batched

        start = time.perf_counter()
        first = jobs[0]
        keys = {(j.teacher.teacher_id, j.mode, j.seed, j.recipe) for j in jobs}
        try:
            if len(keys) != 1:
                raise ValueError("a batch must share teacher, mode, seed and recipe")
            space = space_from_dict(first.teacher.space)
            data = self.data(first.teacher)
            teacher = None
            if first.mode == "kd":
                if weights is None:
                    raise ValueError(f"KD job {first.key} needs its teacher's weights")
                teacher = self.teacher(first, weights).teacher
            results = train_batched(
                space,
                [j.arch for j in jobs],
                data,
                first.recipe,
                teacher=teacher,
                seed=first.seed,
                device=self.device,
            )
        except Exception as error:
            text = f"{type(error).__name__}: {error}"
            wall = (time.perf_counter() - start) / len(jobs)
            return [
                JobOutcome(
                    j,
                    "failed",
                    error=text,
                    wall_time=wall,
                    device=self.device,
                    trainer=BATCHED_TRAINER,
                )
                for j in jobs
            ]
        out = []
        for job, result in zip(jobs, results, strict=True):
            if isinstance(result, Exception):
                out.append(
                    JobOutcome(
                        job,
                        "failed",
                        error=f"{type(result).__name__}: {result}",
                        device=self.device,
                        trainer=BATCHED_TRAINER,
                    )
                )
            else:
                out.append(
                    JobOutcome(
                        job,
                        "ok",
                        result=result.to_dict(),
                        wall_time=result.wall_time,
                        device=self.device,
                        trainer=BATCHED_TRAINER,
                    )
                )
        return out

    def _teacher_job(self, job: TeacherJob, start: float) -> JobOutcome:
        space = space_from_dict(job.space)
        model, result = train_teacher(
            space, self.data(job), job.recipe, seed=job.seed, device=self.device
        )
        return JobOutcome(
            job,
            "ok",
            result=result.to_dict(),
            weights=encode_state_dict(model.state_dict()),
            wall_time=time.perf_counter() - start,
            device=self.device,
        )

    def _student_job(self, job: StudentJob, weights: bytes | None, start: float) -> JobOutcome:
        space = space_from_dict(job.teacher.space)
        data = self.data(job.teacher)
        if job.mode == "kd":
            if weights is None:
                raise ValueError(f"KD job {job.key} needs its teacher's weights")
            teacher = self.teacher(job, weights)
            _, result = distill(
                space, job.arch, data, teacher, job.recipe, seed=job.seed, device=self.device
            )
        else:
            _, result = train_scratch(
                space, job.arch, data, job.recipe, seed=job.seed, device=self.device
            )
        return JobOutcome(
            job,
            "ok",
            result=result.to_dict(),
            wall_time=time.perf_counter() - start,
            device=self.device,
        )


_WORKER: Worker | None = None
_WATCHED_PARENT: int | None = None

WATCH_INTERVAL = 0.5
"""Seconds between two looks of a worker's watchdog at its parent process."""


def _watch_parent(parent: int, interval: float) -> None:
    while True:
        if os.getppid() != parent:  # the collector died: we were handed to another parent
            os._exit(70)
        time.sleep(interval)


def watch_parent(parent: int, interval: float = WATCH_INTERVAL) -> None:
    """Ends this process as soon as its parent ``parent`` is gone.

    A daemon thread compares ``os.getppid()`` with ``parent`` every
    ``interval`` seconds and calls ``os._exit()`` when they differ, which is
    when the parent died (by any signal, SIGKILL included) and this process
    was handed to another. So pool workers never outlive their collector.
    Started once a process; later calls do nothing.

    Args:
        parent (int): The process id of the parent to watch.
        interval (float, optional): Seconds between two looks. (default: `0.5`)
    """
    global _WATCHED_PARENT
    if _WATCHED_PARENT is not None:
        return
    _WATCHED_PARENT = parent
    if os.getppid() != parent:
        os._exit(70)
    threading.Thread(
        target=_watch_parent, args=(parent, interval), name="dassgnn-watchdog", daemon=True
    ).start()


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def init_process(device: str = "cpu", threads: int | None = 1, parent: int | None = None) -> None:
    """Process initializer: one [`Worker`][dassgnn.collect.Worker] per process, kept across jobs
    (and replaced only when the device or thread count changes).

    Args:
        device (str, optional): Torch device of the runs. (default: `"cpu"`)
        threads (int, optional): Torch CPU threads of this process. (default: `1`)
        parent (int, optional): The collector's process id: with it, the process
            ends as soon as the collector is gone (see `watch_parent()`).
            (default: `None`)
    """
    global _WORKER
    if parent is not None:  # a pool worker: Ctrl-C is the collector's to handle, and
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a SIGTERM from the pool ends it
        signal.signal(signal.SIGTERM, _exit_on_sigterm)  # cleanly (its semaphores released)
        watch_parent(parent)
    if _WORKER is None or (_WORKER.device, _WORKER.threads) != (device, threads):
        _WORKER = Worker(device, threads)


def _process_worker() -> Worker:
    if _WORKER is None:
        init_process()
    assert _WORKER is not None
    return _WORKER


def run_in_process(job: TeacherJob | StudentJob, weights: bytes | None = None) -> JobOutcome:
    """The pool's job function: runs ``job`` on this process's
    [`Worker`][dassgnn.collect.Worker]."""
    return _process_worker()(job, weights)


def run_batch_in_process(jobs: list[StudentJob], weights: bytes | None) -> list[JobOutcome]:
    """The batched executor's job function: [`Worker.batch()`][dassgnn.collect.Worker.batch] on
    this process's worker."""
    return _process_worker().batch(jobs, weights)
