import pytest
import torch

from dassgnn.data import Task
from dassgnn.kd import Recipe
from dassgnn.records import (
    MergeConflict,
    RecordStore,
    RecordStoreError,
    RunKey,
    StudentRecord,
)
from dassgnn.records import merge as merge_module
from dassgnn.space import ResNetSpace

TASK = Task(dataset="digits", classes=(0, 1, 2))
NEW_TASK = Task(dataset="digits", classes=(7, 8))
SPACE = ResNetSpace(widths=(4, 8), depths=(1, 1), strides=(1, 2))
RECIPE = Recipe(epochs=2)
ARCHS = SPACE.sample(6, seed=0)
STATE = SPACE.build(SPACE.teacher, 3, 3, seed=0).state_dict()


def kd(store, tid, arch, acc, **kwargs):
    return store.add_run(TASK, arch, mode="kd", seed=0, recipe=RECIPE, teacher_id=tid,
                         test_acc=acc, **kwargs)  # fmt: skip


@pytest.fixture
def stores(tmp_path):
    """``here`` and ``there`` share a task and teacher and differ in a known way."""
    here = RecordStore(tmp_path / "here.db")
    there = RecordStore(tmp_path / "there.db")
    for s in (here, there):
        s.add_task(TASK, role="meta-train" if s is here else None)
    # the shared teacher: weights only here
    tid = here.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 0, 0.9, state_dict=STATE)
    there.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 0, 0.9)
    # a teacher with the same id but a different accuracy, and its runs
    bad = here.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 1, 0.7)
    there.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 1, 0.6)
    kd(there, bad, ARCHS[0], 0.5)
    # a teacher only there, with weights
    new_tid = there.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 2, 0.95, state_dict=STATE)
    kd(there, new_tid, ARCHS[0], 0.55)
    # identical runs (provenance differs), a conflicting run, new runs
    student = StudentRecord.from_space(SPACE, ARCHS[1], TASK)
    for s, host in ((here, "a"), (there, "b")):
        kd(s, tid, ARCHS[1], 0.61, host=host, wall_time=len(host), student=student)
    kd(here, tid, ARCHS[2], 0.62)
    kd(there, tid, ARCHS[2], 0.63)
    kd(there, tid, ARCHS[3], 0.64, student=StudentRecord.from_space(SPACE, ARCHS[3], TASK))
    # a failed run here that succeeded there
    kd(here, tid, ARCHS[4], None, status="failed", error="oom")
    kd(there, tid, ARCHS[4], 0.65)
    # a new task with a scratch run, an embedding
    there.add_task(NEW_TASK, role="meta-test")
    there.add_run(NEW_TASK, ARCHS[5], mode="scratch", seed=0, recipe=RECIPE, test_acc=0.4)
    there.put_embedding("probe", {"teacher": tid}, torch.arange(4.0))
    yield here, there, tid, bad
    here.close()
    there.close()


def test_merge_report_and_result(stores):
    here, there, tid, bad = stores
    before = {r.key: r for r in here.runs(status=None)}
    report = here.merge(there.path)
    assert report.added == {"tasks": 1, "students": 1, "teachers": 1, "runs": 3, "embeddings": 1}
    assert report.identical == {
        "tasks": 1,
        "students": 1,
        "teachers": 1,
        "runs": 1,
        "embeddings": 0,
    }
    assert report.updated == {"tasks": 0, "students": 0, "teachers": 0, "runs": 0, "embeddings": 0}
    assert not report.ok
    by_table = {(c.table, c.key): c for c in report.conflicts}
    assert set(by_table) == {
        ("teachers", (bad,)),
        ("runs", RunKey(TASK.key, bad, ARCHS[0].id, "kd", 0, RECIPE.key, SPACE.key)),
        ("runs", RunKey(TASK.key, tid, ARCHS[2].id, "kd", 0, RECIPE.key, SPACE.key)),
        ("runs", RunKey(TASK.key, tid, ARCHS[4].id, "kd", 0, RECIPE.key, SPACE.key)),
    }
    assert "test_acc: 0.7 -> 0.6" in by_table["teachers", (bad,)].detail
    assert "conflicts with the one recorded here" in str(report.conflicts[1])
    assert (
        "test_acc: 0.62 -> 0.63"
        in by_table[
            "runs", RunKey(TASK.key, tid, ARCHS[2].id, "kd", 0, RECIPE.key, SPACE.key)
        ].detail
    )
    assert "conflicts   4" in str(report) and "runs        +3 added" in str(report)
    # conflicting records keep their values here
    after = {r.key: r for r in here.runs(status=None)}
    for key, run in before.items():
        assert after[key] == run
    assert here.get_teacher(bad).test_acc == 0.7
    assert here.get_teacher(tid).has_weights  # a NULL there does not erase weights here
    assert len(after) == len(before) + 3
    assert here.tasks(role="meta-test") == [NEW_TASK]
    assert here.task_role(TASK.key) == "meta-train"
    assert torch.equal(here.get_embedding("probe", {"teacher": tid}), torch.arange(4.0))
    new_teacher = next(t for t in here.teachers() if t.seed == 2)
    assert torch.equal(here.get_teacher(new_teacher.teacher_id).state_dict()["fc.bias"],
                       STATE["fc.bias"].half().float())  # fmt: skip
    assert len(here.students()) == 2
    # merging again adds nothing
    again = here.merge(there)
    assert sum(again.added.values()) == 0 and len(again.conflicts) == 4


def test_merge_fills_nulls_and_replaces_failed_on_request(stores):
    here, there, tid, _ = stores
    report = there.merge(here.path, replace_failed=False)
    assert report.updated["tasks"] == 1 and report.updated["teachers"] == 1
    assert there.task_role(TASK.key) == "meta-train" and there.get_teacher(tid).has_weights
    # there's ok run vs here's failed one: a conflict unless asked
    report = here.merge(there, replace_failed=True)
    assert report.updated["runs"] == 1
    run = here.runs(arch_id=ARCHS[4].id)[0]
    assert (run.status, run.test_acc) == ("ok", 0.65)


def test_merge_is_one_transaction(stores, monkeypatch):
    here, there, *_ = stores
    before = here.stats()

    def boom(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(merge_module, "_merge_runs", boom)
    with pytest.raises(RuntimeError, match="interrupted"):
        here.merge(there)
    after = here.stats()
    for key in ("tasks", "teachers", "students", "runs", "embeddings", "tasks_by_role"):
        assert after[key] == before[key], key


def test_merge_errors(stores, tmp_path):
    here, there, *_ = stores
    with pytest.raises(ValueError, match="into itself"):
        here.merge(here.path)
    with (
        RecordStore(there.path, readonly=True) as ro,
        pytest.raises(RecordStoreError, match="read-only"),
    ):
        ro.merge(here)
    with pytest.raises(FileNotFoundError):
        here.merge(tmp_path / "missing.db")
    assert str(MergeConflict("runs", ("a",), "x")) == "runs ('a',): x"


def test_runs_learned_from_other_weights_are_conflicts_once(tmp_path):
    here, there = RecordStore(tmp_path / "a.db"), RecordStore(tmp_path / "b.db")
    tids = []
    for seed, s in enumerate((here, there)):  # one teacher id, two trainings
        s.add_task(TASK)
        state = SPACE.build(SPACE.teacher, 3, 3, seed=seed).state_dict()
        tids.append(s.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 0, 0.9, state_dict=state))
        kd(s, tids[-1], ARCHS[seed], 0.5)
    tid = tids[0]
    assert tids == [tid, tid]
    there.add_run(TASK, ARCHS[2], mode="scratch", seed=0, recipe=RECIPE, test_acc=0.3)
    report = here.merge(there.path)
    assert [(c.table, c.key) for c in report.conflicts] == [
        ("teachers", (tid,)),
        ("runs", RunKey(TASK.key, tid, ARCHS[1].id, "kd", 0, RECIPE.key, SPACE.key)),
    ]
    shas = [s.get_teacher(tid).weights_sha[:12] for s in (here, there)]
    assert report.conflicts[0].detail == f"weights: SHA-1 {shas[0]} -> {shas[1]}"
    assert report.conflicts[1].detail == (
        f"learned from teacher weights SHA-1 {shas[1]}, not from the {shas[0]} recorded here"
    )
    assert report.added["runs"] == 1  # what is consistent is merged: the scratch run
    assert str(report).count(str(report.conflicts[1])) == 1
    assert {r.arch_id for r in here.runs()} == {ARCHS[0].id, ARCHS[2].id}
    here.close()
    there.close()


def test_runs_of_equal_weights_in_other_bytes_merge(tmp_path):
    """A teacher whose blob differs in bytes but not in tensors (e.g. written by
    another torch) is the same teacher; its runs merge with this store's hash."""
    import io

    from dassgnn.records.codec import decode_state_dict, weights_sha

    here, there = RecordStore(tmp_path / "a.db"), RecordStore(tmp_path / "b.db")
    for s in (here, there):
        s.add_task(TASK)
        tid = s.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 0, 0.9, state_dict=STATE)
    state = {}
    for name, tensor in decode_state_dict(here.get_teacher(tid).weights).items():
        t = tensor.half() if tensor.is_floating_point() else tensor
        padded = torch.cat([t.flatten(), t.flatten()[:1]])  # a view saves its whole storage
        state[name] = padded[:-1].view(t.shape)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    other = buffer.getvalue()
    assert other != here.get_teacher(tid).weights
    there._conn.execute("UPDATE teachers SET weights = ?", (other,))
    kd(there, tid, ARCHS[0], 0.5)
    assert there.runs()[0].teacher_sha == weights_sha(other)
    report = here.merge(there)
    assert report.ok and report.added["runs"] == 1 and report.identical["teachers"] == 1
    assert here.runs()[0].teacher_sha == here.get_teacher(tid).weights_sha
    here.close()
    there.close()


def test_a_source_of_an_older_schema_merges_from_a_migrated_copy(tmp_path, monkeypatch):
    from dassgnn.records import schema

    from .conftest import insert_old_run

    old = tmp_path / "old" / "v2.db"
    with monkeypatch.context() as m:
        m.setattr(schema, "SCHEMA_VERSION", 2)
        with RecordStore(old) as s:
            s.add_task(TASK, role="meta-train")
            tid = s.add_teacher(TASK, SPACE, SPACE.teacher, RECIPE, 0, 0.9, state_dict=STATE)
            insert_old_run(s, TASK, ARCHS[0].id, mode="kd", seed=0, recipe=RECIPE,
                           test_acc=0.5, teacher_id=tid, space=SPACE.key)  # fmt: skip
    data = old.read_bytes()
    with RecordStore(tmp_path / "new.db") as here:
        report = here.merge(old)
        assert report.ok and report.added["runs"] == 1 and report.source == str(old)
        (run,) = here.runs()
        assert run.teacher_sha == here.get_teacher(tid).weights_sha
    assert old.read_bytes() == data  # the source is read, never migrated in place
    assert sorted(p.name for p in old.parent.iterdir()) == ["v2.db"]
