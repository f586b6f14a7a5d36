import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from dassgnn.collect import Plan, PoolExecutor, SerialExecutor, collect, create_executor
from dassgnn.collect.jobs import JobOutcome, Worker
from dassgnn.records import RecordStore

from .conftest import tiny_plan_dict


def rows(path):
    with RecordStore(path, readonly=True) as store:
        return {r.key: (r.status, r.test_acc) for r in store.runs(status=None)}


def test_serial_collection_records_everything_and_resumes(tmp_path, tiny_plan):
    db = tmp_path / "r.db"
    report = collect(tiny_plan, db, executor="serial", progress=False)
    assert report.teachers_trained == 1 and report.runs_done == 12 and report.runs_failed == 0
    with RecordStore(db, readonly=True) as store:
        teacher = store.teachers()[0]
        assert teacher.test_acc > 0.5 and teacher.trainer == "loop"
        assert len(store.runs(mode="kd")) == 8 and len(store.runs(mode="scratch")) == 4
        assert {r.trainer for r in store.runs()} == {"loop"}
        assert all(0.0 <= r.test_acc <= 1.0 for r in store.runs())
    again = collect(tiny_plan, db, executor="serial", progress=False)
    assert again.runs_done == again.teachers_trained == 0 and again.skipped == 13
    assert again.ok and again.blocked == 0 and "13 skipped (already done)" in str(again)
    with RecordStore(db, readonly=True) as store:  # every KD run names the weights it learned
        sha = store.get_teacher(teacher.teacher_id).weights_sha
        assert {r.teacher_sha for r in store.runs(mode="kd")} == {sha}
        assert {r.teacher_sha for r in store.runs(mode="scratch")} == {""}


def test_failed_jobs_are_recorded_and_the_rest_go_on(tmp_path, tiny_plan, monkeypatch):
    original = Worker._student_job

    def flaky(self, job, weights, start):
        if job.arch == tiny_plan.student_jobs()[1].arch and job.mode == "kd":
            raise FloatingPointError("loss diverged (injected)")
        return original(self, job, weights, start)

    monkeypatch.setattr(Worker, "_student_job", flaky)
    db = tmp_path / "r.db"
    report = collect(tiny_plan, db, executor="serial", progress=False)
    assert report.runs_failed == 2 and report.runs_done == 10
    assert not report.ok and report.problem() == "2 runs failed"
    assert "FloatingPointError: loss diverged (injected)" in report.failures[0]
    with RecordStore(db, readonly=True) as store:
        failed = store.runs(status="failed")
        assert len(failed) == 2 and failed[0].test_acc is None
        assert "injected" in failed[0].error
    # failed runs stay failed on resume, unless retried
    monkeypatch.setattr(Worker, "_student_job", original)
    again = collect(tiny_plan, db, executor="serial", progress=False)
    assert (again.runs_done, again.skipped, again.failed_before) == (0, 11, 2) and not again.ok
    retry = collect(tiny_plan, db, executor="serial", progress=False, retry_failed=True)
    assert retry.runs_done == 2
    assert all(status == "ok" for status, _ in rows(db).values())


def test_a_failed_teacher_blocks_its_runs_and_is_not_skipped(tmp_path, tiny_plan, monkeypatch):
    def broken(self, job, start):
        raise MemoryError("out of memory (injected)")

    monkeypatch.setattr(Worker, "_teacher_job", broken)
    db = tmp_path / "r.db"
    report = collect(tiny_plan, db, executor="serial", progress=False)
    assert (report.teachers_failed, report.blocked, report.runs_done) == (1, 8, 4)  # scratch ran
    assert report.skipped == 0 and not report.ok
    assert report.problem() == "1 teacher failed, 8 runs blocked by a failed teacher"
    assert "8 blocked by a failed teacher" in str(report)
    monkeypatch.undo()  # the same command trains the teacher and the blocked runs
    again = collect(tiny_plan, db, executor="serial", progress=False)
    assert (again.teachers_trained, again.runs_done, again.skipped) == (1, 8, 4) and again.ok


def test_unusable_device_fails_before_any_work(tmp_path, tiny_plan):
    import torch

    db = tmp_path / "r.db"
    with pytest.raises(ValueError, match=r"device 'gpu' is not a torch device \(did you mean"):
        collect(tiny_plan, db, executor="serial", device="gpu", progress=False)
    if not torch.cuda.is_available():
        for executor in ("serial", "pool", "batched"):
            with pytest.raises(ValueError, match="device 'cuda' is not usable: torch finds no"):
                collect(tiny_plan, db, executor=executor, device="cuda", progress=False)
    assert list(tmp_path.iterdir()) == []  # no store, no lock file


def test_executor_options_are_checked():
    with pytest.raises(ValueError, match=r"'serial' executor has no option 'workers'"):
        create_executor("serial", workers=2)
    with pytest.raises(ValueError, match=r"'pool' executor has no option 'group'"):
        create_executor("pool", group=4)
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        create_executor("pool", workers=0)
    with pytest.raises(ValueError, match="group must be >= 1, got 0"):
        create_executor("batched", group=0)
    with pytest.raises(TypeError, match="threads must be an int"):
        create_executor("batched", threads="2")


def test_teachers_only_then_students_only(tmp_path, tiny_plan):
    db = tmp_path / "r.db"
    with pytest.raises(FileNotFoundError, match=r"no record store at .*--teachers-only"):
        collect(tiny_plan, db, executor="serial", students_only=True, progress=False)
    assert list(tmp_path.iterdir()) == []
    with RecordStore(db) as store:  # a store without the teacher
        store.add_task(tiny_plan.teacher_jobs()[0].task)
    with pytest.raises(ValueError, match=r"lacks 1 teacher\(s\) of this plan.*Missing:\n  digits-"):
        collect(tiny_plan, db, executor="serial", students_only=True, progress=False)
    report = collect(tiny_plan, db, executor="serial", teachers_only=True, progress=False)
    assert (report.teachers_trained, report.runs_done, report.skipped) == (1, 0, 0)
    part = tiny_plan.select(seeds=[1])
    report = collect(part, db, executor="serial", students_only=True, progress=False)
    assert (report.teachers_trained, report.runs_done, report.skipped) == (0, 4, 0)
    with pytest.raises(ValueError, match="not both"):
        collect(tiny_plan, db, teachers_only=True, students_only=True, progress=False)


def test_worker_turns_errors_into_outcomes(tiny_plan):
    job = tiny_plan.student_jobs()[0]
    outcome = Worker()(job, weights=None)
    assert isinstance(outcome, JobOutcome) and outcome.status == "failed"
    assert "needs its teacher's weights" in outcome.error


def test_executor_registry():
    assert isinstance(create_executor("serial"), SerialExecutor)
    pool = create_executor("pool", workers=2)
    assert create_executor("pool", workers=None).workers >= 1
    assert isinstance(pool, PoolExecutor) and pool.threads == 1
    assert str(pool) == "PoolExecutor(workers=2, device='cpu', threads=1)"
    with pytest.raises(KeyError, match="valid names: batched, pool, ray, serial"):
        create_executor("slurm")


def _start(plan_file, db):
    cmd = [
        sys.executable,
        "-m",
        "dassgnn.cli",
        "collect",
        "--config",
        str(plan_file),
        "--store",
        str(db),
        "--workers",
        "2",
        "--quiet",
    ]
    return subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _count_ok(db):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_sigkill_twice_then_resume_matches_a_clean_run(tmp_path):
    plan = tiny_plan_dict(students=6)
    import yaml

    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(plan))
    n_jobs = len(Plan.from_dict(plan).student_jobs())
    db = tmp_path / "killed.db"
    for target in (3, 9):
        proc = _start(plan_file, db)
        deadline = time.time() + 120
        while _count_ok(db) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert 0 < _count_ok(db) < n_jobs
    proc = _start(plan_file, db)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    clean = tmp_path / "clean.db"
    collect(Plan.from_dict(plan), clean, executor="pool", workers=2, progress=False)
    resumed, reference = rows(db), rows(clean)
    assert len(resumed) == n_jobs and set(resumed) == set(reference)
    assert resumed == reference  # same seeds, one thread a worker: the same accuracies
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    dupes = con.execute(
        "SELECT COUNT(*) FROM (SELECT task_key, teacher_id, arch_id, mode, seed, recipe_key, "
        "COUNT(*) c FROM runs GROUP BY 1, 2, 3, 4, 5, 6 HAVING c > 1)"
    ).fetchone()[0]
    assert dupes == 0
    con.close()


@pytest.mark.slow
def test_ray_runs_a_tiny_plan(tmp_path):
    ray = pytest.importorskip("ray")
    plan = Plan.from_dict(tiny_plan_dict(students=2, kd_seeds=[0], scratch_seeds=[0]))
    db = tmp_path / "ray.db"
    try:
        report = collect(plan, db, executor="ray", workers=2, progress=False)
    finally:
        ray.shutdown()
    assert report.teachers_trained == 1 and report.runs_done == 4 and report.runs_failed == 0
    serial = tmp_path / "serial.db"
    collect(plan, serial, executor="serial", threads=1, progress=False)
    assert rows(db) == rows(serial)


def test_batched_executor_records_batched_runs(tmp_path, tiny_plan):
    db = tmp_path / "b.db"
    report = collect(tiny_plan, db, executor="batched", group=3, threads=1, progress=False)
    assert report.teachers_trained == 1 and report.runs_done == 12 and report.runs_failed == 0
    loop = tmp_path / "l.db"
    collect(tiny_plan, loop, executor="serial", threads=1, progress=False)
    with RecordStore(db, readonly=True) as b, RecordStore(loop, readonly=True) as s:
        assert {r.trainer for r in b.runs()} == {"batched"}
        batched = {r.key: r.test_acc for r in b.runs()}
        looped = {r.key: r.test_acc for r in s.runs()}
    assert set(batched) == set(looped)
    # one-epoch runs on 8x8 digits: the two trainers land close to each other
    assert sum(abs(batched[k] - looped[k]) for k in batched) / len(batched) < 0.1


def test_group_jobs_closes_a_group_when_the_key_changes_or_it_is_full(tiny_plan):
    from dassgnn.collect.executors import group_jobs

    teacher = tiny_plan.teacher_jobs()[0]
    students = tiny_plan.student_jobs()  # 4 students x (kd 0, kd 1, scratch 0), grouped
    items = [(teacher, None)] + [(job, b"w" if job.mode == "kd" else None) for job in students]
    units = list(group_jobs(items, group=3))
    assert units[0] == (teacher, None)
    groups = units[1:]
    assert [len(g) for g in groups] == [3, 1, 3, 1, 3, 1]
    assert [job for g in groups for job, _ in g] == students
    for g in groups:
        assert len({(j.teacher.teacher_id, j.mode, j.seed) for j, _ in g}) == 1
    assert [len(g) for g in group_jobs(items[1:], group=40)] == [4, 4, 4]
