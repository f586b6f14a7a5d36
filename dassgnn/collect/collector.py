"""The collector: runs a plan's jobs on an executor and records every outcome."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from dassgnn.collect.executors import create_executor
from dassgnn.collect.jobs import JobOutcome
from dassgnn.collect.plan import Plan, StudentJob, TeacherJob
from dassgnn.records import RecordStore, StudentRecord
from dassgnn.records.codec import decode_state_dict
from dassgnn.space import space_from_dict


@dataclass
class CollectReport:
    """What one call of [`collect()`][dassgnn.collect.collect] did.

    Attributes:
        teachers_trained (int): Teachers trained and recorded now.
        runs_done (int): Student runs recorded now as ``ok``.
        runs_failed (int): Student runs recorded now as ``failed``.
        skipped (int): Jobs already in the store (or whose teacher failed).
        failures (list[str]): One line per failure.
        wall_time (float): Seconds.
    """

    teachers_trained: int = 0
    runs_done: int = 0
    runs_failed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    wall_time: float = 0.0

    def __str__(self) -> str:
        return (
            f"{self.teachers_trained} teachers trained, {self.runs_done} runs done, "
            f"{self.runs_failed} failed, {self.skipped} skipped, {self.wall_time:.0f} s"
        )


def _bar(total: int, desc: str, progress: bool) -> tqdm:
    return tqdm(total=total, desc=desc, disable=not progress, unit="run", dynamic_ncols=True)


def _record_teacher(store: RecordStore, outcome: JobOutcome) -> None:
    job = outcome.job
    assert isinstance(job, TeacherJob) and outcome.result is not None
    assert outcome.weights is not None
    space = space_from_dict(job.space)
    store.add_teacher(
        job.task,
        job.space,
        space.teacher,
        job.recipe,
        job.seed,
        outcome.result["test_acc"],
        teacher_id=job.teacher_id,
        state_dict=decode_state_dict(outcome.weights),
        trainer=outcome.trainer,
        device=outcome.device,
        wall_time=outcome.wall_time,
    )


def _record_run(store: RecordStore, outcome: JobOutcome, retry: bool) -> None:
    job = outcome.job
    assert isinstance(job, StudentJob)
    space = space_from_dict(job.teacher.space)
    store.add_run(
        job.teacher.task,
        job.arch,
        mode=job.mode,
        seed=job.seed,
        recipe=job.recipe,
        teacher_id=job.key.teacher_id,
        status=outcome.status,
        result=outcome.result,
        error=outcome.error,
        student=StudentRecord.from_space(space, job.arch, job.teacher.task),
        trainer=outcome.trainer,
        device=outcome.device,
        wall_time=outcome.wall_time,
        host=outcome.host,
        replace_failed=retry,
    )


def collect(
    plan: Plan,
    store: RecordStore | str | Path,
    *,
    executor: str | Any = "pool",
    retry_failed: bool = False,
    progress: bool = True,
    **executor_kwargs: Any,
) -> CollectReport:
    """Runs every job of ``plan`` that ``store`` does not hold yet and records it.

    Teachers are trained first (one per task), then the student runs, grouped
    so that runs sharing a teacher and seed reuse its cached logits. Each
    finished run is written in its own transaction as it arrives, so a
    collection killed at any moment (even with SIGKILL) loses at most the runs
    in flight, and calling [`collect()`][dassgnn.collect.collect] again finishes the plan without
    duplicates. A job that fails (diverged loss, out of memory, bad data) is
    recorded as ``failed`` with its reason and the others go on; failed runs
    are retried only with ``retry_failed=True``.

    Args:
        plan (Plan): What to run.
        store (RecordStore or path): Where to record it (created if absent).
        executor (str or executor, optional): ``"pool"``, ``"ray"``, ``"serial"``
            or an executor object. (default: `"pool"`)
        retry_failed (bool, optional): Run failed jobs again. (default: `False`)
        progress (bool, optional): Progress bars with failures and ETA. (default: `True`)
        **executor_kwargs: Passed to the executor (``workers``, ``device``, ...).

    Returns:
        CollectReport: Counts of what was done now.
    """
    start = time.perf_counter()
    own = not isinstance(store, RecordStore)
    store = store if isinstance(store, RecordStore) else RecordStore(store)
    runner = create_executor(executor, **executor_kwargs) if isinstance(executor, str) else executor
    report = CollectReport()
    try:
        teacher_jobs = plan.teacher_jobs()
        for teacher_job in teacher_jobs:
            store.add_task(teacher_job.task, role=teacher_job.role)
        known = {t.teacher_id for t in store.teachers()}
        todo = [j for j in teacher_jobs if j.teacher_id not in known]
        report.skipped += len(teacher_jobs) - len(todo)
        bar = _bar(len(todo), "teachers", progress)
        for outcome in runner.run((job, None) for job in todo):
            if outcome.status == "ok":
                _record_teacher(store, outcome)
                report.teachers_trained += 1
            else:
                report.failures.append(f"teacher {_job_label(outcome.job)}: {outcome.error}")
            bar.update()
        bar.close()
        known = {t.teacher_id for t in store.teachers()}

        jobs = plan.student_jobs()
        done = store.done_keys(include_failed=not retry_failed)
        todo_runs = []
        for job in jobs:
            if job.key in done or (job.mode == "kd" and job.teacher.teacher_id not in known):
                report.skipped += 1
            else:
                todo_runs.append(job)
        bar = _bar(len(todo_runs), "students", progress)
        for outcome in runner.run(_with_weights(store, todo_runs)):
            _record_run(store, outcome, retry_failed)
            if outcome.status == "ok":
                report.runs_done += 1
            else:
                report.runs_failed += 1
                report.failures.append(f"run {_job_label(outcome.job)}: {outcome.error}")
            bar.update()
            bar.set_postfix(failed=report.runs_failed)
        bar.close()
    finally:
        if own:
            store.close()
    report.wall_time = time.perf_counter() - start
    return report


def _job_label(job: TeacherJob | StudentJob) -> str:
    return job.teacher_id if isinstance(job, TeacherJob) else str(job.key)


def _with_weights(store: RecordStore, jobs: list[StudentJob]) -> Iterator[tuple[Any, Any]]:
    cache: dict[str, bytes | None] = {}
    for job in jobs:
        weights = None
        if job.mode == "kd":
            teacher_id = job.teacher.teacher_id
            if teacher_id not in cache:
                cache.clear()
                cache[teacher_id] = store.get_teacher(teacher_id).weights
            weights = cache[teacher_id]
        yield job, weights
