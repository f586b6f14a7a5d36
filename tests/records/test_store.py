import dataclasses
import json
import sqlite3

import pytest
import torch

from dassgnn.data import Task
from dassgnn.kd import Recipe, TrainResult
from dassgnn.records import (
    SCHEMA_VERSION,
    AddRunResult,
    RecordConflictError,
    RecordStore,
    RecordStoreError,
    RunKey,
    StudentRecord,
)
from dassgnn.space import ResNetSpace

TASK = Task(dataset="digits", classes=(0, 1, 2))
OTHER_TASK = Task(dataset="digits", classes=(3, 4), image_size=16, channels=1)
SPACE = ResNetSpace(widths=(4, 8), depths=(1, 1), strides=(1, 2))
RECIPE = Recipe(epochs=2)


def result(acc, best=None, wall=1.5, device="cpu"):
    return {
        "test_acc": acc,
        "best_test_acc": acc if best is None else best,
        "per_class_acc": [acc, acc, acc],
        "train_loss": [1.1, 0.7],
        "train_acc": [0.4, 0.6],
        "test_curve": [[1, acc / 2], [2, acc]],
        "wall_time": wall,
        "steps": 4,
        "device": device,
    }


@pytest.fixture
def store(tmp_path):
    with RecordStore(tmp_path / "records.db") as s:
        s.add_task(TASK, role="meta-train")
        yield s


@pytest.fixture
def teacher(store):
    net = SPACE.build(SPACE.teacher, TASK.num_classes, TASK.channels, seed=0)
    net.stem.bn.num_batches_tracked.fill_(7)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    tid = store.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 0, 0.875, state_dict=state)
    return tid, state


def count(store, table):
    return store._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_new_store_pragmas_and_meta(tmp_path):
    path = tmp_path / "sub" / "records.db"
    with RecordStore(path) as s:
        assert s.schema_version == SCHEMA_VERSION and not s.readonly
        assert s.meta["created_with"] == "0.1.0" and s.meta["application"] == "dassgnn.records"
        assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert s._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert s._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 60000
        indices = {r[0] for r in s._conn.execute("SELECT name FROM sqlite_master")}
        assert "runs_task_mode_status" in indices
    assert s.closed and "closed" in repr(s)
    with pytest.raises(RecordStoreError, match="closed"):
        s.tasks()
    s.close()  # idempotent


def test_tasks_roundtrip_and_roles(store):
    assert store.get_task(TASK.key) == TASK
    assert store.add_task(TASK) == TASK.key  # no-op, keeps the role
    assert store.task_role(TASK.key) == "meta-train"
    with pytest.raises(RecordConflictError, match="meta-train"):
        store.add_task(TASK, role="meta-test")
    store.add_task(OTHER_TASK)
    assert store.task_role(OTHER_TASK.key) is None
    store.add_task(OTHER_TASK, role="meta-test")  # a missing role is filled in
    assert store.tasks() == [TASK, OTHER_TASK]
    assert store.tasks(role="meta-test") == [OTHER_TASK]
    row = store._conn.execute("SELECT * FROM tasks WHERE task_key = ?", (OTHER_TASK.key,))
    row = row.fetchone()
    assert (row["dataset"], row["num_classes"], row["image_size"], row["channels"]) == (
        "digits",
        2,
        16,
        1,
    )
    with pytest.raises(KeyError, match="nope"):
        store.get_task("nope")
    with pytest.raises(TypeError, match="Task"):
        store.add_task(TASK.key)


def test_set_role_takes_a_task_out_of_a_role(store):
    assert store.set_role(TASK.key, "pilot-rejected") == "meta-train"
    assert store.task_role(TASK.key) == "pilot-rejected"
    assert store.tasks(role="meta-train") == []
    with pytest.raises(RecordConflictError, match="pilot-rejected"):
        store.add_task(TASK, role="meta-train")  # the plan must say so too
    with pytest.raises(KeyError, match="nope"):
        store.set_role("nope", "meta-test")
    with pytest.raises(ValueError, match="role must be a non-empty str, got ''"):
        store.set_role(TASK.key, "")


def test_teacher_weights_roundtrip_fp16(store, teacher):
    tid, state = teacher
    assert tid == f"{TASK.key}/{SPACE.key}/{RECIPE.key}/s0"
    rec = store.get_teacher(tid)
    assert (rec.task_key, rec.arch_id, rec.seed, rec.test_acc) == (
        TASK.key,
        SPACE.teacher.id,
        0,
        0.875,
    )
    assert rec.space == SPACE.to_dict() and rec.recipe == RECIPE.to_dict()
    assert rec.recipe_key == RECIPE.key and rec.library_version == "0.1.0"
    loaded = rec.state_dict()
    assert list(loaded) == list(state)
    for name, value in state.items():
        if value.is_floating_point():
            assert loaded[name].dtype == torch.float32
            assert torch.equal(loaded[name], value.half().float()), name
            torch.testing.assert_close(loaded[name], value, rtol=1e-3, atol=1e-4)
        else:
            assert loaded[name].dtype == value.dtype and torch.equal(loaded[name], value)
    assert int(loaded["stem.bn.num_batches_tracked"]) == 7
    # the blob is a plain torch.save of fp16 tensors
    import io

    raw = torch.load(io.BytesIO(rec.weights), weights_only=True)
    assert raw["stem.conv.weight"].dtype == torch.float16
    model = rec.build_model()
    assert not model.training
    out = model(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 3)


def test_teacher_idempotence_fill_and_conflict(store, teacher):
    tid, state = teacher
    again = store.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 0, 0.875, state_dict=state)
    assert again == tid and count(store, "teachers") == 1
    with pytest.raises(RecordConflictError, match="test_acc"):
        store.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 0, 0.9)
    other = {k: v + 1 if v.is_floating_point() else v for k, v in state.items()}
    with pytest.raises(RecordConflictError, match="weights"):
        store.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 0, 0.875, state_dict=other)
    assert torch.equal(
        store.get_teacher(tid).state_dict()["fc.bias"], state["fc.bias"].half().float()
    )
    # NULL columns are filled in later, never changed
    bare = store.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 1, 0.5, trainer="loop")
    listed = store.teachers(TASK.key)
    assert [t.teacher_id for t in listed] == [tid, bare]
    assert listed[0].has_weights and listed[0].weights is None and not listed[1].has_weights
    with pytest.raises(RecordStoreError, match="not loaded"):
        listed[0].state_dict()
    with pytest.raises(RecordStoreError, match="without weights"):
        listed[1].state_dict()
    store.add_teacher(
        TASK, SPACE, SPACE.teacher, RECIPE, 1, 0.5, state_dict=state, noise_seed=3,
        noise_shape=(4, 3, 32, 32),
    )  # fmt: skip
    rec = store.get_teacher(bare)
    assert rec.has_weights and rec.noise_seed == 3 and rec.noise_shape == (4, 3, 32, 32)
    assert rec.trainer == "loop"
    with pytest.raises(RecordConflictError, match="noise_seed"):
        store.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 1, 0.5, noise_seed=4)
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        store.add_teacher("nope", SPACE, SPACE.teacher, RECIPE, 0, 0.5)
    with pytest.raises(ValueError, match="float16"):
        store.add_teacher(
            TASK, SPACE, SPACE.teacher, RECIPE, 2, 0.5, state_dict={"w": torch.tensor([1e6])}
        )
    with pytest.raises(KeyError):
        store.get_teacher("nope")
    assert count(store, "teachers") == 2


def test_run_roundtrip_idempotence_and_conflict(store, teacher):
    tid, _ = teacher
    arch = SPACE.sample(1, seed=0)[0]
    student = StudentRecord.from_space(SPACE, arch, TASK)
    train = TrainResult(
        test_acc=0.75, best_test_acc=0.8, per_class_acc=[0.5, 0.75, 1.0],
        train_loss=[1.0, 0.25], test_curve=[(1, 0.8), (2, 0.75)], wall_time=2.5, steps=8,
    )  # fmt: skip
    kwargs = dict(mode="kd", seed=3, recipe=RECIPE, teacher_id=tid, trainer="loop")
    first = store.add_run(TASK, arch, result=train, student=student, **kwargs)
    assert first == AddRunResult(first.run_id, True, False)
    (run,) = store.runs()
    assert run.key == RunKey(TASK.key, tid, arch.id, "kd", 3, RECIPE.key, student.space_key)
    assert (run.test_acc, run.best_test_acc, run.wall_time, run.device) == (0.75, 0.8, 2.5, "cpu")
    assert run.result == train.to_dict() and run.recipe == RECIPE.to_dict()
    assert (run.status, run.trainer, run.space_key, run.error) == (
        "ok",
        "loop",
        student.space_key,
        None,
    )
    assert run.library_version == "0.1.0" and run.host
    assert store.students() == [student]
    assert student.params == SPACE.params(arch, 3, 3)
    assert student.flops == SPACE.flops(arch, 3, 3, 32)
    # same key, same result (other provenance): a no-op returning the existing id
    again = dict(result(0.75, 0.8, wall=99.0, device="cuda"))
    again.update(per_class_acc=[0.5, 0.75, 1.0], train_loss=[1.0, 0.25], train_acc=[])
    again.update(test_curve=[[1, 0.8], [2, 0.75]], steps=8)
    same = store.add_run(TASK.key, arch.id, result=again, host="elsewhere", **kwargs)
    assert same == AddRunResult(first.run_id, False, False)
    # same key, different result: an error, never an overwrite
    with pytest.raises(RecordConflictError, match=r"test_acc: 0\.75 -> 0\.7") as err:
        store.add_run(TASK, arch, result=result(0.7, 0.8), **kwargs)
    assert "replace_failed" not in str(err.value)
    with pytest.raises(RecordConflictError):
        store.add_run(TASK, arch, result=result(0.7), replace_failed=True, **kwargs)
    assert [r.test_acc for r in store.runs()] == [0.75]
    assert store.runs()[0].result == train.to_dict()


def test_kd_run_records_the_weights_it_learned_from(store, teacher):
    from dassgnn.records.codec import weights_sha

    tid, _ = teacher
    sha = weights_sha(store.get_teacher(tid).weights)
    arch = SPACE.sample(2, seed=0)
    store.add_run(TASK, arch[0], mode="kd", seed=0, recipe=RECIPE, teacher_id=tid, test_acc=0.5)
    assert store.runs()[0].teacher_sha == sha  # the stored teacher's, by default
    again = store.add_run(TASK, arch[0], mode="kd", seed=0, recipe=RECIPE, teacher_id=tid,
                          test_acc=0.5, teacher_sha=sha)  # fmt: skip
    assert not again.inserted
    with pytest.raises(RecordConflictError, match="distilled from another network"):
        store.add_run(TASK, arch[1], mode="kd", seed=0, recipe=RECIPE, teacher_id=tid,
                      test_acc=0.5, teacher_sha="0" * 40)  # fmt: skip
    with pytest.raises(ValueError, match="40 lowercase hex digits, got 'abc'"):
        store.add_run(TASK, arch[1], mode="kd", seed=0, recipe=RECIPE, teacher_id=tid,
                      test_acc=0.5, teacher_sha="abc")  # fmt: skip
    with pytest.raises(ValueError, match="mode='scratch' takes no teacher_sha"):
        store.add_run(TASK, arch[1], mode="scratch", seed=0, recipe=RECIPE, test_acc=0.5,
                      teacher_sha=sha)  # fmt: skip
    store.add_run(TASK, arch[1], mode="scratch", seed=0, recipe=RECIPE, test_acc=0.5)
    assert [r.teacher_sha for r in store.runs()] == [sha, ""]


def test_missing_store_is_created_only_when_asked(tmp_path):
    with pytest.raises(FileNotFoundError, match="no record store at"):
        RecordStore(tmp_path / "missing.db", create=False)
    assert list(tmp_path.iterdir()) == []


def test_failed_runs_and_replace(store):
    arch = SPACE.sample(1, seed=1)[0]
    kwargs = dict(mode="scratch", seed=0, recipe=RECIPE)
    failed = store.add_run(TASK, arch, status="failed", error="diverged at step 3", **kwargs)
    key = RunKey(TASK.key, "", arch.id, "scratch", 0, RECIPE.key, "")
    assert store.has_run(key) and not store.has_run(key, include_failed=False)
    assert store.done_keys() == {key} and store.done_keys(include_failed=False) == set()
    assert store.runs() == [] and store.runs(status="failed")[0].test_acc is None
    assert store.add_run(TASK, arch, status="failed", error="diverged at step 3", **kwargs) == (
        failed.run_id,
        False,
        False,
    )
    with pytest.raises(RecordConflictError, match="replace_failed=True"):
        store.add_run(TASK, arch, result=result(0.5), **kwargs)
    replaced = store.add_run(TASK, arch, result=result(0.5), replace_failed=True, **kwargs)
    assert replaced == AddRunResult(failed.run_id, True, True)
    (run,) = store.runs(status=None)
    assert (run.status, run.test_acc, run.error) == ("ok", 0.5, None)
    assert store.has_run(tuple(key), include_failed=False)


def test_run_queries(store, teacher):
    tid, _ = teacher
    store.add_task(OTHER_TASK)
    archs = SPACE.sample(3, seed=2)
    for i, arch in enumerate(archs):
        store.add_run(
            TASK, arch, mode="kd", seed=0, recipe=RECIPE, teacher_id=tid, test_acc=0.1 * i
        )
        store.add_run(TASK, arch, mode="scratch", seed=0, recipe=RECIPE.to_dict(), test_acc=0.5)
    store.add_run(OTHER_TASK, archs[0], mode="scratch", seed=1, recipe={"epochs": 2}, test_acc=0.25)
    store.add_run(OTHER_TASK, archs[1], mode="scratch", seed=1, recipe=RECIPE, status="failed")
    assert len(store.runs()) == 7 and len(store.runs(status=None)) == 8
    assert [r.test_acc for r in store.runs(TASK.key, mode="kd")] == [0.0, 0.1, 0.2]
    assert len(store.runs(arch_id=archs[0].id)) == 3
    assert len(store.runs(teacher_id=tid)) == 3
    assert len(store.done_keys(OTHER_TASK.key)) == 2
    # a recipe dict is completed with the defaults, so its key is the recipe's
    assert store.runs(OTHER_TASK.key)[0].recipe_key == RECIPE.key
    assert all(r.space_key == SPACE.key for r in store.runs(mode="kd"))
    with pytest.raises(ValueError, match="mode"):
        store.runs(mode="distill")
    with pytest.raises(ValueError, match="run key"):
        store.has_run(("a", "b"))


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (
            {"task": "digits-3way-000000000000"},
            ValueError,
            "unknown task 'digits-3way-000000000000'",
        ),
        ({"mode": "distill"}, ValueError, "mode must be one of .* got 'distill'"),
        ({"status": "done"}, ValueError, "status must be one of .* got 'done'"),
        ({"teacher_id": "no-such-teacher"}, ValueError, "unknown teacher 'no-such-teacher'"),
        ({"teacher_id": ""}, ValueError, "needs the teacher_id"),
        ({"mode": "scratch"}, ValueError, "takes no teacher"),
        ({"test_acc": 1.5, "result": None}, ValueError, r"test_acc must be a fraction"),
        ({"test_acc": float("nan"), "result": None}, ValueError, r"test_acc must be a fraction"),
        ({"test_acc": None, "result": None}, ValueError, "needs test_acc"),
        ({"test_acc": 0.3}, ValueError, "disagrees"),
        ({"status": "failed", "test_acc": 0.3}, ValueError, "failed run has no accuracy"),
        ({"seed": -1}, ValueError, r"seed must be in \[0, 9223372036854775807\]"),
        ({"seed": "0"}, TypeError, "seed must be an int"),
        ({"recipe": {"epochs": 0}}, ValueError, "epochs"),
        ({"recipe": {"nope": 1}}, ValueError, "unknown recipe fields"),
        ({"student": "student"}, TypeError, "StudentRecord"),
        ({"space_key": "resnet-other"}, ValueError, "conflicting search spaces"),
    ],
)
def test_add_run_rejects_bad_input_and_keeps_records(store, teacher, change, error, match):
    tid, _ = teacher
    arch = SPACE.sample(2, seed=3)
    kwargs = dict(task=TASK, arch=arch[0], mode="kd", seed=0, recipe=RECIPE, teacher_id=tid)
    store.add_run(**kwargs, result=result(0.5))
    before = store.runs(status=None)
    kwargs.update(arch=arch[1], result=result(0.6))
    kwargs.update(change)
    with pytest.raises(error, match=match):
        store.add_run(**kwargs)
    assert store.runs(status=None) == before
    assert count(store, "tasks") == 1 and count(store, "teachers") == 1


def test_student_mismatch_and_conflict_roll_back_the_run(store):
    arch, other = SPACE.sample(2, seed=4)
    student = StudentRecord.from_space(SPACE, arch, TASK)
    kwargs = dict(mode="scratch", seed=0, recipe=RECIPE, test_acc=0.5)
    with pytest.raises(ValueError, match="does not match"):
        store.add_run(TASK, other, student=student, **kwargs)
    with pytest.raises(ValueError, match="does not match"):
        store.add_run(
            TASK, arch, student=StudentRecord.from_space(SPACE, arch, OTHER_TASK), **kwargs
        )
    wrong = dataclasses.replace(student, params=student.params + 1)
    store.add_student(
        SPACE.key,
        arch,
        student.params,
        student.flops,
        num_classes=3,
        in_channels=3,
        image_size=32,
    )
    with pytest.raises(RecordConflictError, match="params"):
        store.add_run(TASK, arch, student=wrong, **kwargs)
    assert store.runs(status=None) == [] and store.students() == [student]
    assert store.add_run(TASK, arch, student=student, **kwargs).inserted
    assert store.runs()[0].space_key == student.space_key


def test_embeddings_roundtrip(store):
    source = {"teacher": "t0", "noise_seed": 3, "shape": [2, 3]}
    tensors = [
        torch.randn(4, 5),
        torch.randn(3).half(),
        torch.randn(2, 2, dtype=torch.float64),
        torch.randn(3).bfloat16(),
        torch.arange(6).reshape(2, 3),
        torch.tensor([True, False]),
        torch.tensor(2.5),
        torch.empty(0, 4),
        torch.randn(4, 6)[:, ::2],  # non-contiguous view
    ]
    for i, t in enumerate(tensors):
        key = store.put_embedding("test", {**source, "i": i}, t)
        assert len(key) == 40
        got = store.get_embedding("test", {"i": i, **source})  # key order does not matter
        assert got.dtype == t.dtype and got.shape == t.shape and torch.equal(got, t)
    assert store.get_embedding("test", {"i": 99}) is None
    assert store.get_embedding("other", {**source, "i": 0}) is None
    store.put_embedding("test", {**source, "i": 0}, torch.ones(2))  # a cache: replaced
    assert torch.equal(store.get_embedding("test", {**source, "i": 0}), torch.ones(2))
    with pytest.raises(TypeError, match="JSON"):
        store.put_embedding("test", {"x": object()}, torch.ones(1))
    with pytest.raises(TypeError, match="dict"):
        store.put_embedding("test", [1], torch.ones(1))


def test_readonly_store_rejects_every_write(tmp_path, store, teacher):
    tid, _ = teacher
    arch = SPACE.sample(1, seed=5)[0]
    store.add_run(TASK, arch, mode="scratch", seed=0, recipe=RECIPE, test_acc=0.5)
    store.close()
    with RecordStore(store.path, readonly=True) as ro:
        assert ro.readonly
        writes = [
            lambda: ro.add_task(OTHER_TASK),
            lambda: ro.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 5, 0.5),
            lambda: ro.add_student("s", arch, 1, 1, num_classes=3, in_channels=3, image_size=32),
            lambda: ro.add_run(TASK, arch, mode="scratch", seed=1, recipe=RECIPE, test_acc=0.5),
            lambda: ro.put_embedding("k", {}, torch.ones(1)),
            lambda: ro.checkpoint(),
            lambda: ro.merge(tmp_path / "other.db"),
        ]
        for write in writes:
            with pytest.raises(RecordStoreError, match="read-only"):
                write()
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro._conn.execute("DELETE FROM runs")
        assert len(ro.runs()) == 1 and ro.get_teacher(tid).has_weights
    with pytest.raises(FileNotFoundError):
        RecordStore(tmp_path / "missing.db", readonly=True)
    assert not (tmp_path / "missing.db").exists()


def test_json_columns_are_canonical(store):
    arch = SPACE.sample(1, seed=6)[0]
    store.add_run(TASK, arch, mode="scratch", seed=0, recipe=RECIPE, result=result(0.5))
    text = store._conn.execute("SELECT recipe, result FROM runs").fetchone()
    assert text["recipe"] == RECIPE.to_json()
    assert json.loads(text["result"])["test_curve"] == [[1, 0.25], [2, 0.5]]
