"""Several writer processes, and a writer killed mid-loop: nothing committed is lost."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dassgnn.records import RecordStore

REPO = Path(__file__).resolve().parents[2]
ARCH_ID = "1,1|16|16"
N_PER_WORKER = 300
N_SHARED = 20


def _recipe():
    from dassgnn.kd import Recipe

    return Recipe(epochs=2).to_dict()


def _task():
    from dassgnn.data import Task

    return Task(dataset="digits", classes=(0, 1, 2))


def _result(seed):
    acc = (seed % 997) / 997
    return {"test_acc": acc, "best_test_acc": acc, "test_curve": [[1, acc]], "seed": seed}


def _writer(path, worker, barrier, task_key, recipe):
    """Child process: N_PER_WORKER own runs interleaved with N_SHARED runs both write."""
    with RecordStore(path, timeout=60) as store:
        barrier.wait(timeout=120)
        for i in range(N_PER_WORKER):
            seed = 1000 * (worker + 1) + i
            store.add_run(task_key, ARCH_ID, mode="scratch", seed=seed, recipe=recipe,
                          result=_result(seed), trainer=f"worker{worker}")  # fmt: skip
            if i < N_SHARED:  # the same key and result from both processes: one row
                store.add_run(task_key, ARCH_ID, mode="scratch", seed=i, recipe=recipe,
                              result=_result(i), trainer=f"worker{worker}")  # fmt: skip


def test_two_processes_write_concurrently_and_lose_nothing(tmp_path):
    path = tmp_path / "records.db"
    task = _task()
    with RecordStore(path) as store:
        store.add_task(task)
    # a spawned child and this process write at the same time (one child: each
    # spawned interpreter spends seconds importing torch)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    child = ctx.Process(target=_writer, args=(str(path), 1, barrier, task.key, _recipe()))
    child.start()
    try:
        _writer(str(path), 0, barrier, task.key, _recipe())
    finally:
        child.join(timeout=180)
    assert child.exitcode == 0
    with RecordStore(path, readonly=True) as store:
        runs = store.runs()
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    seeds = sorted(r.seed for r in runs)
    expected = sorted(
        [*range(N_SHARED), *(1000 * (w + 1) + i for w in range(2) for i in range(N_PER_WORKER))]
    )
    assert seeds == expected
    assert all(
        r.result == _result(r.seed) and r.test_acc == _result(r.seed)["test_acc"] for r in runs
    )
    assert {r.trainer for r in runs} == {"worker0", "worker1"}


_CHILD = """
import sys, json
from dassgnn.records import RecordStore
path, task_key, recipe = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
curve = [[e, e / 4000] for e in range(4000)]  # a large row: the kill may land mid-write
with RecordStore(path) as store:
    for seed in range(1_000_000):
        res = store.add_run(task_key, "1,1|16|16", mode="scratch", seed=seed, recipe=recipe,
                            test_acc=(seed % 100) / 100, result={"test_curve": curve, "seed": seed})
        print(res.run_id, seed, flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_writer_killed_mid_loop_leaves_exactly_the_committed_runs(tmp_path):
    path = tmp_path / "records.db"
    task = _task()
    with RecordStore(path) as store:
        store.add_task(task)
        store.add_run(task, ARCH_ID, mode="scratch", seed=10**7,
                      recipe=_recipe(), test_acc=0.5)  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    args = [sys.executable, "-c", _CHILD, str(path), task.key, json.dumps(_recipe())]
    with (tmp_path / "stderr.txt").open("w+") as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        watchdog = threading.Timer(120, proc.kill)
        watchdog.start()
        try:
            printed = []
            while len(printed) < 40:
                line = proc.stdout.readline()
                if not line:
                    err.seek(0)
                    pytest.fail(f"the writer died early: {err.read()}")
                printed.append(tuple(map(int, line.split())))
            proc.send_signal(signal.SIGKILL)
            printed += [tuple(map(int, ln.split())) for ln in proc.stdout.read().splitlines()]
            assert proc.wait() == -signal.SIGKILL
        finally:
            watchdog.cancel()
            proc.stdout.close()
    printed_seeds = {seed for _, seed in printed}
    with RecordStore(path) as store:  # opens for writing: recovers the log
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        runs = [r for r in store.runs(status=None) if r.seed != 10**7]
        seeds = {r.seed for r in runs}
        # every acknowledged run is there; at most one more committed before its print
        assert printed_seeds <= seeds
        assert seeds - printed_seeds <= {max(printed_seeds) + 1}
        assert {(r.run_id, r.seed) for r in runs} >= set(printed)
        for r in runs:  # and each is whole
            assert r.test_acc == (r.seed % 100) / 100
            assert r.result["seed"] == r.seed and len(r.result["test_curve"]) == 4000
        assert store.add_run(task, ARCH_ID, mode="scratch", seed=10**6, recipe=_recipe(),
                             test_acc=0.1).inserted  # fmt: skip
