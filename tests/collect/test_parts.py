"""Collecting in parts and merging them; one collector a store; workers die with it."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from dassgnn.cli import main
from dassgnn.collect import Plan, collect
from dassgnn.records import RecordStore, StoreBusyError, collector_lock

from .conftest import tiny_plan_dict

LINUX = sys.platform.startswith("linux")


def _plan_file(tmp_path, **changes):
    data = tiny_plan_dict(**changes)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, Plan.from_dict(data)


@pytest.mark.slow
def test_parts_on_different_thread_counts_and_executors_merge_without_loss(tmp_path, capsys):
    """The documented workflow: teachers once, a copy a machine, parts, merge."""
    plan_file, plan = _plan_file(tmp_path, students=6, kd_seeds=[0, 1], scratch_seeds=[0])
    teachers = tmp_path / "teachers.db"
    args = ["collect", "--config", str(plan_file), "--quiet"]
    assert main([*args, "--store", str(teachers), "--teachers-only", "--executor", "serial"]) == 0
    parts = {
        "serial-1-thread": ["--seeds", "0", "--executor", "serial", "--threads", "1"],
        "pool-2-threads": [
            "--seeds",
            "1",
            "--executor",
            "pool",
            "--workers",
            "1",
            "--threads",
            "2",
        ],
    }
    for name, options in parts.items():
        shutil.copy(teachers, tmp_path / f"{name}.db")  # the copy each machine gets
        store = str(tmp_path / f"{name}.db")
        assert main([*args, "--store", store, "--students-only", *options]) == 0
    capsys.readouterr()
    merged = tmp_path / "all.db"
    assert main(["records", "merge", str(merged), *(str(tmp_path / f"{n}.db") for n in parts)]) == 0
    out = capsys.readouterr().out
    assert out.count("conflicts   0") == 2
    with RecordStore(merged, readonly=True) as store:
        keys = [r.key for r in store.runs(status=None)]
        (teacher,) = store.teachers(with_weights=True)
        assert {r.teacher_sha for r in store.runs(mode="kd")} == {teacher.weights_sha}
    planned = [job.key for job in plan.student_jobs()]
    assert len(planned) == 6 * 3 and sorted(keys) == sorted(planned)  # each exactly once


def test_students_only_refuses_to_train_teachers(tmp_path, capsys):
    plan_file, plan = _plan_file(tmp_path)
    store = tmp_path / "part.db"
    with RecordStore(store) as s:
        s.add_task(plan.teacher_jobs()[0].task)
    args = ["collect", "--config", str(plan_file), "--store", str(store), "--quiet"]
    assert main([*args, "--students-only", "--seeds", "0", "--executor", "serial"]) == 2
    err = capsys.readouterr().err
    assert "lacks 1 teacher(s) of this plan" in err and "--teachers-only" in err
    assert plan.teacher_jobs()[0].teacher_id in err
    with RecordStore(store, readonly=True) as s:
        assert not s.teachers() and not s.runs(status=None)
    assert main([*args, "--teachers-only", "--seeds", "0"]) == 2
    assert "--seeds selects student runs" in capsys.readouterr().err


def test_a_second_collector_on_a_store_refuses_at_start(tmp_path, tiny_plan):
    db = tmp_path / "r.db"
    with collector_lock(db) as lock:
        assert lock == tmp_path.resolve() / "r.db.lock"
        with pytest.raises(StoreBusyError, match=rf"another collector \(pid {os.getpid()}\)"):
            collect(tiny_plan, db, executor="serial", progress=False)
    assert not db.exists()  # it refused before opening the store
    with collector_lock(db):  # released: the next one takes it
        pass


def test_a_symlink_to_a_store_shares_its_lock(tmp_path, tiny_plan):
    db = tmp_path / "r.db"
    db.touch()
    link = tmp_path / "link.db"
    link.symlink_to(db)
    with collector_lock(db), pytest.raises(StoreBusyError, match="another collector"):
        collect(tiny_plan, link, executor="serial", progress=False)


def test_a_refused_store_keeps_no_stray_lock(tmp_path, tiny_plan):
    from dassgnn.records import RecordStoreError

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a store" * 100)
    with pytest.raises(RecordStoreError, match="not a SQLite database"):
        collect(tiny_plan, junk, executor="serial", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.db"]


# ------------------------------------------------------------- real processes


def _start(plan_file, db, *options):
    cmd = [sys.executable, "-m", "dassgnn.cli", "collect", "--config", str(plan_file)]
    cmd += ["--store", str(db), "--quiet", *options]
    return subprocess.Popen(
        cmd,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # a terminal's Ctrl-C, whatever this suite inherited: a shell's background job (`&`)
        # starts with SIGINT ignored, and an ignored signal stays ignored across exec
        preexec_fn=_default_sigint,
    )


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stat(pid):
    """``(state, parent pid)`` of a process from /proc, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def _alive(pid):
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")  # a zombie has ended


def _workers(parent):
    """The spawn workers whose parent is ``parent``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (_stat(entry) or ("", 0))[1] == parent:
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if b"spawn_main" in fh.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _runs(db):
    import sqlite3

    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _wait(condition, proc, seconds=300):
    deadline = time.monotonic() + seconds
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the collector ended early: {proc.stderr.read().decode()}")
        if time.monotonic() > deadline:
            pytest.fail("the collector made no progress")
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="reads /proc")
@pytest.mark.parametrize(
    ("executor", "sig"),
    [
        (["--executor", "pool", "--workers", "2"], signal.SIGKILL),
        (["--executor", "batched", "--workers", "2", "--group", "2"], signal.SIGTERM),
    ],
)
def test_workers_never_outlive_their_collector(tmp_path, executor, sig):
    plan_file, _ = _plan_file(tmp_path, students=30)
    db = tmp_path / "r.db"
    proc = _start(plan_file, db, "--threads", "1", *executor)
    workers = []
    try:
        _wait(lambda: _runs(db) > 0 and len(_workers(proc.pid)) == 2, proc)
        workers = _workers(proc.pid)
        assert all(_alive(pid) for pid in workers)
        os.kill(proc.pid, sig)  # only the collector, as an OOM killer or a scheduler does
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)], "workers outlived their collector"
    finally:
        for pid in [proc.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
    with collector_lock(db):  # the dead collector's lock went with it
        pass


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_two_collectors_on_one_store(tmp_path, capsys):
    plan_file, _ = _plan_file(tmp_path, students=30)
    db = tmp_path / "r.db"
    first = _start(plan_file, db, "--executor", "serial", "--threads", "1")
    try:
        _wait(lambda: _runs(db) > 0, first)
        args = ["collect", "--config", str(plan_file), "--store", str(db), "--quiet"]
        assert main([*args, "--executor", "serial"]) == 2
        err = capsys.readouterr().err
        assert f"another collector (pid {first.pid}) is collecting into {db}" in err
        assert "r.db.lock" in err
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    with collector_lock(db):  # no stale lock after SIGKILL
        pass


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_ctrl_c_prints_one_line_keeps_the_runs_and_exits_130(tmp_path):
    plan_file, plan = _plan_file(tmp_path, students=30)
    db = tmp_path / "r.db"
    proc = _start(plan_file, db, "--threads", "1", "--executor", "pool", "--workers", "2")
    try:
        _wait(lambda: _runs(db) > 0 and len(_workers(proc.pid)) == 2, proc)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
        assert proc.wait(timeout=60) == 130
    finally:
        if _alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = proc.stderr.read().decode()
    assert err.count("\n") == 1 and "Traceback" not in err, err
    kept = _runs(db)
    assert f"interrupted; {kept} runs and 1 teachers are kept in {db}" in err
    assert f"resume with: dassgnn collect --config {plan_file} --store {db}" in err
    assert 0 < kept < len(plan.student_jobs())
    assert main(["collect", "--config", str(plan_file), "--store", str(db), "--quiet"]) == 0
    with RecordStore(db, readonly=True) as store:  # resumed: every run once
        assert len(store.runs(status=None)) == len(plan.student_jobs())


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_a_worker_killed_from_outside_fails_only_its_run(tmp_path):
    from dassgnn.collect.executors import WORKER_DIED

    plan_file, plan = _plan_file(tmp_path, students=12)
    db = tmp_path / "r.db"
    proc = _start(plan_file, db, "--threads", "1", "--executor", "pool", "--workers", "2")
    try:
        _wait(lambda: _runs(db) > 1 and len(_workers(proc.pid)) == 2, proc)
        victim = _workers(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)  # as the OOM killer does
        proc.wait(timeout=300)
    finally:
        if _alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "BrokenProcessPool" not in err
    with RecordStore(db, readonly=True) as store:
        runs = store.runs(status=None)
        failed = [r for r in runs if r.status == "failed"]
        assert len(runs) == len(plan.student_jobs())  # nothing else was lost
        assert len(failed) <= 1 and all(WORKER_DIED in r.error for r in failed)
    assert proc.returncode == (1 if failed else 0)  # a failed run is reported, not fatal


def _job_that_may_kill_its_worker(job, kill):
    """A pool call for the test below: returns an outcome, or dies like an OOM-killed worker."""
    from dassgnn.collect import JobOutcome

    if kill:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.2)
    return JobOutcome(job, "ok")


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_the_pool_fails_only_the_call_whose_worker_died(tiny_plan):
    from dassgnn.collect.executors import WORKER_DIED, _run_in_pool

    jobs = tiny_plan.student_jobs()[:6]
    calls = [(_job_that_may_kill_its_worker, (job, i == 2)) for i, job in enumerate(jobs)]
    outcomes = list(_run_in_pool(calls, workers=2, device="cpu", threads=1, ahead=2))
    assert sorted(o.job.arch.id for o in outcomes) == sorted(j.arch.id for j in jobs)
    failed = [o for o in outcomes if o.status == "failed"]
    assert [o.job for o in failed] == [jobs[2]] and failed[0].error == WORKER_DIED
