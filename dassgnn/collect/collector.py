"""The collector: runs a plan's jobs on an executor and records every outcome."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from dassgnn.collect.executors import create_executor
from dassgnn.collect.jobs import JobOutcome
from dassgnn.collect.plan import Plan, StudentJob, TeacherJob
from dassgnn.records import RecordStore, StudentRecord, collector_lock, lock_path
from dassgnn.records.codec import decode_state_dict, weights_sha
from dassgnn.space import space_from_dict
from dassgnn.utils.validation import check_bool


@dataclass
class CollectReport:
    """What one call of [`collect()`][dassgnn.collect.collect] did.

    Attributes:
        teachers_trained (int): Teachers trained and recorded now.
        teachers_failed (int): Teachers whose training failed now (nothing is recorded).
        runs_done (int): Student runs recorded now as ``ok``.
        runs_failed (int): Student runs recorded now as ``failed``.
        skipped (int): Teachers and runs already done (recorded ``ok``), not run again.
        failed_before (int): Runs recorded as ``failed`` by an earlier
            collection and not run again (``retry_failed=False``).
        blocked (int): KD runs not run because their teacher failed now.
        failures (list[str]): One line per failed teacher or run.
        wall_time (float): Seconds.
    """

    teachers_trained: int = 0
    teachers_failed: int = 0
    runs_done: int = 0
    runs_failed: int = 0
    skipped: int = 0
    failed_before: int = 0
    blocked: int = 0
    failures: list[str] = field(default_factory=list)
    wall_time: float = 0.0

    @property
    def ok(self) -> bool:
        """bool: Whether every job of the plan is done: no teacher or run failed,
        now or before, and none was blocked."""
        return not (self.teachers_failed or self.runs_failed or self.failed_before or self.blocked)

    def problem(self) -> str | None:
        """The one-line reason why the collection is not complete, or `None` if it is.

        Returns:
            str or None: E.g. ``"1 teacher failed, 8 runs blocked by a failed teacher"``.
        """
        parts = []
        for count, what in (
            (self.teachers_failed, "teacher failed"),
            (self.runs_failed, "run failed"),
            (self.failed_before, "run failed earlier (not retried)"),
            (self.blocked, "run blocked by a failed teacher"),
        ):
            if count:
                noun, rest = what.split(" ", 1)
                parts.append(f"{count} {noun}{'s' if count > 1 else ''} {rest}")
        return ", ".join(parts) or None

    def __str__(self) -> str:
        teachers = f"{self.teachers_trained} teachers trained"
        if self.teachers_failed:
            teachers += f" ({self.teachers_failed} failed)"
        text = (
            f"{teachers}, {self.runs_done} runs done, {self.runs_failed} failed, "
            f"{self.skipped} skipped (already done)"
        )
        if self.failed_before:
            text += f", {self.failed_before} failed earlier (not retried)"
        if self.blocked:
            text += f", {self.blocked} blocked by a failed teacher"
        return f"{text}, {self.wall_time:.0f} s"


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


def _record_run(store: RecordStore, outcome: JobOutcome, retry: bool, shas: dict[str, str]) -> None:
    job = outcome.job
    assert isinstance(job, StudentJob)
    sha = shas.get(job.teacher.teacher_id) if job.mode == "kd" else None
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
        teacher_sha=sha or None,
    )


def collect(
    plan: Plan,
    store: RecordStore | str | Path,
    *,
    executor: str | Any = "pool",
    retry_failed: bool = False,
    teachers_only: bool = False,
    students_only: bool = False,
    progress: bool = True,
    **executor_kwargs: Any,
) -> CollectReport:
    """Runs every job of ``plan`` that ``store`` does not hold yet and records it.

    Before anything trains, the plan's data is checked
    ([`Plan.check()`][dassgnn.collect.Plan.check]), the executor is created
    (which checks the device), and the store's collector lock is taken
    ([`collector_lock()`][dassgnn.records.collector_lock]): a second collector
    on the same store fails at once instead of training the same jobs again.

    Teachers are trained first (one per task), then the student runs, grouped
    so that runs sharing a teacher and seed reuse its cached logits. Each
    finished run is written in its own transaction as it arrives, so a
    collection killed at any moment (even with SIGKILL) loses at most the runs
    in flight, and calling [`collect()`][dassgnn.collect.collect] again finishes the plan without
    duplicates. A job that fails (diverged loss, out of memory, bad data) is
    recorded as ``failed`` with its reason and the others go on; failed runs
    are retried only with ``retry_failed=True``. A KD run records the SHA-1 of
    the teacher weights it was sent (``teacher_sha``).

    To run a plan in parts on several machines, train the teachers once
    (``teachers_only=True``), copy that store to each machine, run the parts
    there with ``students_only=True`` (it never trains a teacher, so every
    part distils from the same weights), and merge the parts.

    Args:
        plan (Plan): What to run.
        store (RecordStore or path): Where to record it (created if absent).
        executor (str or executor, optional): ``"pool"``, ``"batched"``, ``"ray"``,
            ``"serial"`` or an executor object. (default: `"pool"`)
        retry_failed (bool, optional): Run failed jobs again. (default: `False`)
        teachers_only (bool, optional): Train the missing teachers and no
            student. (default: `False`)
        students_only (bool, optional): Run the student jobs only; every KD
            run's teacher must be in the store already. (default: `False`)
        progress (bool, optional): Progress bars with failures and ETA. (default: `True`)
        **executor_kwargs: Passed to the executor (``workers``, ``device``, ...).

    Returns:
        CollectReport: Counts of what was done now; `CollectReport.ok` is
        `False` if a teacher or run failed.

    Raises:
        FileNotFoundError: If ``students_only`` and the store does not exist.
        ValueError: If both ``teachers_only`` and ``students_only`` are set, the
            plan's data is not usable, an executor option or the device is
            invalid, or ``students_only`` and teachers are missing (the message
            lists them).
        StoreBusyError: If another collector holds the store.
    """
    start = time.perf_counter()
    teachers_only = check_bool(teachers_only, "teachers_only")
    students_only = check_bool(students_only, "students_only")
    if teachers_only and students_only:
        raise ValueError("give teachers_only or students_only, not both")
    if not isinstance(plan, Plan):
        raise TypeError(f"plan must be a Plan, got {type(plan).__name__}")
    runner = create_executor(executor, **executor_kwargs) if isinstance(executor, str) else executor
    plan.check()
    path = store.path if isinstance(store, RecordStore) else Path(store)
    if students_only and not path.exists():
        raise FileNotFoundError(
            f"no record store at {path}: with students_only (--students-only) the store must "
            "be a copy of the one whose teachers teachers_only (--teachers-only) trained"
        )
    stray = not lock_path(path).exists()  # a lock file this call creates
    with contextlib.ExitStack() as stack:
        stack.enter_context(collector_lock(path))
        if not isinstance(store, RecordStore):
            try:
                store = stack.enter_context(RecordStore(path))
            except Exception:  # a refused store keeps no lock file of ours beside it
                if stray:
                    lock_path(path).unlink(missing_ok=True)
                raise
        report = CollectReport()
        teacher_jobs = plan.teacher_jobs()
        jobs = [] if teachers_only else plan.student_jobs()
        known = {t.teacher_id for t in store.teachers()}
        if students_only:
            _check_teachers(teacher_jobs, jobs, known, path)
        for teacher_job in teacher_jobs:
            store.add_task(teacher_job.task, role=teacher_job.role)
        if students_only:
            teacher_jobs = []
        failed = _train_teachers(store, runner, teacher_jobs, known, report, progress)
        if jobs:
            _run_students(store, runner, jobs, failed, retry_failed, report, progress)
    report.wall_time = time.perf_counter() - start
    return report


def _check_teachers(
    teacher_jobs: list[TeacherJob], jobs: list[StudentJob], known: set[str], path: Path
) -> None:
    needed = {j.teacher.teacher_id for j in jobs if j.mode == "kd"}
    missing = [t.teacher_id for t in teacher_jobs if t.teacher_id in needed - known]
    if missing:
        listed = "\n  ".join(missing[:10]) + (
            f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        raise ValueError(
            f"the store {path} lacks {len(missing)} teacher(s) of this plan, and with "
            "students_only (--students-only) a part never trains its own: parts that trained "
            "their own teachers would distil from different weights and could not be merged. "
            "Train the teachers once with teachers_only (--teachers-only), copy that store to "
            f"every machine, then run the parts. Missing:\n  {listed}"
        )


def _train_teachers(
    store: RecordStore,
    runner: Any,
    teacher_jobs: list[TeacherJob],
    known: set[str],
    report: CollectReport,
    progress: bool,
) -> set[str]:
    """Trains the teachers the store lacks; returns the ids of those that failed."""
    todo = [j for j in teacher_jobs if j.teacher_id not in known]
    report.skipped += len(teacher_jobs) - len(todo)
    failed = set()
    bar = _bar(len(todo), "teachers", progress)
    for outcome in runner.run((job, None) for job in todo):
        if outcome.status == "ok":
            _record_teacher(store, outcome)
            report.teachers_trained += 1
        else:
            failed.add(outcome.job.teacher_id)
            report.teachers_failed += 1
            report.failures.append(f"teacher {_job_label(outcome.job)}: {outcome.error}")
        bar.update()
    bar.close()
    return failed


def _run_students(
    store: RecordStore,
    runner: Any,
    jobs: list[StudentJob],
    failed_teachers: set[str],
    retry_failed: bool,
    report: CollectReport,
    progress: bool,
) -> None:
    done = store.done_keys(include_failed=False)
    failed = set() if retry_failed else store.done_keys(include_failed=True) - done
    todo_runs = []
    for job in jobs:
        if job.key in done:
            report.skipped += 1
        elif job.key in failed:
            report.failed_before += 1
        elif job.mode == "kd" and job.teacher.teacher_id in failed_teachers:
            report.blocked += 1
        else:
            todo_runs.append(job)
    shas: dict[str, str] = {}
    bar = _bar(len(todo_runs), "students", progress)
    for outcome in runner.run(_with_weights(store, todo_runs, shas)):
        _record_run(store, outcome, retry_failed, shas)
        if outcome.status == "ok":
            report.runs_done += 1
        else:
            report.runs_failed += 1
            report.failures.append(f"run {_job_label(outcome.job)}: {outcome.error}")
        bar.update()
        bar.set_postfix(failed=report.runs_failed)
    bar.close()


def _job_label(job: TeacherJob | StudentJob) -> str:
    return job.teacher_id if isinstance(job, TeacherJob) else str(job.key)


def _with_weights(
    store: RecordStore, jobs: list[StudentJob], shas: dict[str, str]
) -> Iterator[tuple[Any, Any]]:
    """Pairs each job with its teacher's weights blob, noting the blob's SHA-1
    in ``shas`` (by teacher id) for the run's record."""
    cache: dict[str, bytes | None] = {}
    for job in jobs:
        weights = None
        if job.mode == "kd":
            teacher_id = job.teacher.teacher_id
            if teacher_id not in cache:
                cache.clear()
                cache[teacher_id] = store.get_teacher(teacher_id).weights
                blob = cache[teacher_id]
                shas[teacher_id] = "" if blob is None else weights_sha(blob)
            weights = cache[teacher_id]
        yield job, weights
