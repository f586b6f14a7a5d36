import csv
import json
import math

import pytest

from dassgnn.data import Task
from dassgnn.kd import Recipe
from dassgnn.records import (
    EXPORT_COLUMNS,
    SCHEMA_VERSION,
    RecordStore,
    StudentRecord,
    format_stats,
)
from dassgnn.space import ResNetSpace

TRAIN = Task(dataset="digits", classes=(0, 1, 2))
TEST = Task(dataset="digits", classes=(3, 4), image_size=16, channels=1)
SPACE = ResNetSpace(widths=(4, 8), depths=(1, 1), strides=(1, 2))
RECIPE = Recipe(epochs=2)


@pytest.fixture
def store(tmp_path):
    """2 tasks; on TRAIN 3 KD runs (one failed) and 2 scratch runs, on TEST 1 KD run."""
    with RecordStore(tmp_path / "records.db") as s:
        s.add_task(TRAIN, role="meta-train")
        s.add_task(TEST, role="meta-test")
        s.add_task(Task(dataset="digits", classes=(5, 6)))
        t1 = s.add_teacher(TRAIN, SPACE, SPACE.teacher, RECIPE, 0, 0.9, wall_time=10.0)
        t2 = s.add_teacher(TEST, SPACE, SPACE.teacher, RECIPE, 0, 0.8, wall_time=5.0)
        archs = SPACE.sample(3, seed=0)
        for i, arch in enumerate(archs):
            student = StudentRecord.from_space(SPACE, arch, TRAIN)
            if i < 2:
                s.add_run(TRAIN, arch, mode="kd", seed=0, recipe=RECIPE, teacher_id=t1,
                          test_acc=0.5 + i / 10, wall_time=2.0 + i, student=student)  # fmt: skip
                s.add_run(TRAIN, arch, mode="scratch", seed=0, recipe=RECIPE, test_acc=0.3,
                          wall_time=1.0, student=student)  # fmt: skip
            else:
                s.add_run(TRAIN, arch, mode="kd", seed=0, recipe=RECIPE, teacher_id=t1,
                          status="failed", error="diverged", wall_time=0.5)  # fmt: skip
        s.add_run(TEST, archs[0], mode="kd", seed=1, recipe=RECIPE, teacher_id=t2, test_acc=0.75,
                  student=StudentRecord.from_space(SPACE, archs[0], TEST))  # fmt: skip
        s.archs = archs
        yield s


def test_to_frame_joins_tasks_teachers_and_students(store):
    frame = store.to_frame()
    assert list(frame.columns) == list(EXPORT_COLUMNS)
    assert len(frame) == 5 and set(frame["status"]) == {"ok"}
    kd = frame[(frame["mode"] == "kd") & (frame["task_key"] == TRAIN.key)]
    arch = store.archs[0]
    row = kd[kd["arch_id"] == arch.id].iloc[0]
    assert (row["dataset"], row["role"], row["num_classes"], row["in_channels"]) == (
        "digits",
        "meta-train",
        3,
        3,
    )
    assert row["teacher_test_acc"] == 0.9 and row["test_acc"] == 0.5
    assert row["params"] == SPACE.params(arch, 3, 3)
    assert row["flops"] == SPACE.flops(arch, 3, 3, 32)
    assert row["space_key"] == SPACE.key
    test_row = frame[frame["task_key"] == TEST.key].iloc[0]
    # the same architecture costs less on 16x16 grey images with 2 classes
    assert test_row["params"] == SPACE.params(arch, 2, 1)
    assert test_row["flops"] == SPACE.flops(arch, 2, 1, 16) < row["flops"]
    assert test_row["role"] == "meta-test" and test_row["teacher_test_acc"] == 0.8
    scratch = frame[frame["mode"] == "scratch"]
    assert len(scratch) == 2 and scratch["teacher_test_acc"].isna().all()
    assert list(store.to_frame(status=None)["status"]).count("failed") == 1
    assert len(store.to_frame(task_key=TEST.key, mode="kd")) == 1


def test_export_csv_without_pandas(store, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pandas", None)
    with pytest.raises(ImportError, match="export_csv"):
        store.to_frame()
    path = tmp_path / "runs.csv"
    assert store.export_csv(path, status=None) == 6
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    by_id = {int(r["run_id"]): r for r in rows}
    for run in store.runs(status=None):
        row = by_id[run.run_id]
        assert row["arch_id"] == run.arch_id and row["mode"] == run.mode
        if run.test_acc is None:
            assert row["test_acc"] == "" and row["error"] == "diverged" and row["params"] == ""
        else:
            assert float(row["test_acc"]) == run.test_acc  # exact round trip
    assert store.export_csv(tmp_path / "kd.csv", mode="kd") == 3


def test_stats_numbers(store):
    stats = store.stats()
    json.dumps(stats)  # serialisable
    assert stats["schema_version"] == SCHEMA_VERSION and stats["created_with"] == "0.1.0"
    assert stats["tasks"] == 3
    assert stats["tasks_by_role"] == {"(none)": 1, "meta-test": 1, "meta-train": 1}
    assert stats["teachers"] == 2 and stats["teachers_with_weights"] == 0
    assert stats["students"] == 3  # 2 archs on TRAIN's shape, 1 on TEST's
    assert stats["runs"] == 6
    assert stats["runs_by_mode_status"] == {"kd": {"failed": 1, "ok": 3}, "scratch": {"ok": 2}}
    assert stats["runs_per_task"] == {TRAIN.key: 5, TEST.key: 1}
    assert math.isclose(stats["run_wall_time"], 2.0 + 3.0 + 1.0 + 1.0 + 0.5)
    assert stats["teacher_wall_time"] == 15.0
    assert math.isclose(stats["total_wall_time"], 22.5)
    assert stats["embeddings"] == 0 and stats["file_size"] > 0
    text = format_stats(stats)
    assert "tasks            3 ((none): 1, meta-test: 1, meta-train: 1)" in text
    assert "runs             6 (kd failed 1, kd ok 3, scratch ok 2)" in text
    assert "min 1, median 3, max 5 over 2 tasks" in text
    assert "22.5 s" in text


def test_stats_of_an_empty_store(tmp_path):
    with RecordStore(tmp_path / "empty.db") as store:
        stats = store.stats()
    assert stats["runs"] == 0 and stats["runs_per_task"] == {} and stats["tasks_by_role"] == {}
    assert "runs per task    -" in format_stats(stats)
