import csv
import shutil
from pathlib import Path

import pytest
import yaml

from dassgnn.cli import main
from dassgnn.records import RecordStore

from .collect.conftest import tiny_plan_dict


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    plan = tmp / "plan.yaml"
    plan.write_text(yaml.safe_dump(tiny_plan_dict(students=2, kd_seeds=[0], scratch_seeds=[0])))
    db = tmp / "r.db"
    assert (
        main(
            [
                "collect",
                "--config",
                str(plan),
                "--store",
                str(db),
                "--executor",
                "serial",
                "--quiet",
                "--checkpoint",
            ]
        )
        == 0
    )
    return plan, db


def test_collect_stats_export(collected, capsys, tmp_path):
    _, db = collected
    assert not db.with_name(db.name + "-wal").exists()  # --checkpoint folds the WAL in
    assert main(["records", "stats", str(db)]) == 0
    out = capsys.readouterr().out
    assert "teachers         1 (1 with weights)" in out
    assert "runs             4 (kd ok 2, scratch ok 2)" in out
    assert (
        main(["records", "export", str(tmp_path / "runs.csv"), "--store", str(db), "--mode", "kd"])
        == 0
    )
    with open(tmp_path / "runs.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2 and {r["mode"] for r in table} == {"kd"}
    assert {"arch_id", "test_acc", "params", "flops", "dataset"} <= set(table[0])


def test_set_role(collected, capsys, tmp_path):
    _, db = collected
    copy = tmp_path / "copy.db"
    assert main(["records", "snapshot", str(db), str(copy)]) == 0
    with RecordStore(copy, readonly=True) as store:
        key = store.tasks()[0].key
        old = store.task_role(key)
    assert main(["records", "set-role", str(copy), key, "pilot-rejected"]) == 0
    assert f"{key}: role {old!r} -> 'pilot-rejected'" in capsys.readouterr().out
    with RecordStore(copy, readonly=True) as store:
        assert store.task_role(key) == "pilot-rejected"
    assert main(["records", "set-role", str(copy), "nope", "meta-test"]) == 2


def test_merge_reports_and_skips_duplicates(collected, capsys, tmp_path):
    _, db = collected
    target = tmp_path / "merged.db"
    assert main(["records", "merge", str(target), str(db), str(db)]) == 0
    with RecordStore(target, readonly=True) as store:
        assert len(store.runs(status=None)) == 4
    first, second = capsys.readouterr().out.split("merged ")[1:]
    assert "runs        +4 added, 0 identical" in first and "conflicts   0" in first
    assert "runs        +0 added, 4 identical" in second


def test_bad_input_exits_with_a_message(tmp_path, capsys):
    assert main(["collect", "--config", str(tmp_path / "none.toml"), "--store", "x.db"]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(tiny_plan_dict(dataset="imagenet")))
    assert main(["collect", "--config", str(bad), "--store", str(tmp_path / "r.db")]) == 2
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    assert main(["records", "stats", str(junk)]) == 2
    assert "not a SQLite database" in capsys.readouterr().err
    assert junk.read_bytes() == b"this is not a database at all" * 100


def test_snapshot_of_a_store_in_use(collected, tmp_path):
    _, db = collected
    with RecordStore(db) as live:  # a writer holds the store open in WAL mode
        assert main(["records", "snapshot", str(db), str(tmp_path / "snap.db")]) == 0
        assert live.runs(status=None)
    assert not (tmp_path / "snap.db-wal").exists()
    with RecordStore(tmp_path / "snap.db", readonly=True) as snap:
        assert len(snap.runs(status=None)) == 4 and len(snap.teachers()) == 1


def test_snapshot_replaces_a_store_and_its_stale_wal(collected, tmp_path):

    _, db = collected
    other = tmp_path / "other.db"
    with RecordStore(db) as live:  # a live WAL store, copied by hand with its -wal file
        live.runs(status=None)
        shutil.copy(db, other)
        for suffix in ("-wal", "-shm"):
            if Path(f"{db}{suffix}").exists():
                shutil.copy(f"{db}{suffix}", f"{other}{suffix}")
    Path(f"{other}-wal").write_bytes(b"stale write-ahead log of another file" * 64)
    assert main(["records", "snapshot", str(db), str(other)]) == 0
    assert not Path(f"{other}-wal").exists() and not Path(f"{other}-shm").exists()
    with RecordStore(other, readonly=True) as snap:  # not "database disk image is malformed"
        assert len(snap.runs(status=None)) == 4


def test_missing_stores_fail_clearly_and_create_nothing(collected, tmp_path, capsys):
    _, db = collected
    missing = tmp_path / "missing.db"
    assert main(["records", "checkpoint", str(missing)]) == 2
    assert f"no record store at {missing}" in capsys.readouterr().err
    empty = tmp_path / "empty.db"
    empty.touch()
    assert main(["records", "checkpoint", str(empty)]) == 2
    assert "is an empty database, not a dassgnn record store" in capsys.readouterr().err
    assert empty.stat().st_size == 0
    empty.unlink()
    target = tmp_path / "target.db"
    assert main(["records", "merge", str(target), str(db), str(missing)]) == 2
    assert f"no record store at {missing}" in capsys.readouterr().err
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a store" * 100)
    assert main(["records", "merge", str(target), str(db), str(junk)]) == 2
    assert "not a SQLite database" in capsys.readouterr().err
    for command in (["stats"], ["report"]):
        assert main(["records", *command, str(missing)]) == 2
    assert main(["records", "export", str(tmp_path / "x.csv"), "--store", str(missing)]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.db"]


def test_read_only_commands_leave_no_file(collected, tmp_path):
    _, db = collected
    folder = tmp_path / "store"
    folder.mkdir()
    copy = folder / "r.db"
    shutil.copy(db, copy)
    with RecordStore(copy):  # writable: back in WAL mode, as a collection leaves it
        pass
    assert copy.read_bytes()[18:20] == b"\x02\x02"
    for path in (copy, db):  # in WAL mode, and checkpointed
        before = {p.name: p.read_bytes() for p in path.parent.iterdir()}
        assert main(["records", "stats", str(path)]) == 0
        assert main(["records", "report", str(path)]) == 0
        assert main(["records", "export", str(tmp_path / "runs.csv"), "--store", str(path)]) == 0
        assert main(["records", "snapshot", str(path), str(tmp_path / "snap.db")]) == 0
        assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == before


def test_merge_lists_each_conflict_once_and_exits_non_zero(tmp_path, capsys):
    from dassgnn.data import Task
    from dassgnn.kd import Recipe
    from dassgnn.space import ResNetSpace

    task, recipe = Task("digits", (0, 1, 2)), Recipe(epochs=1)
    space = ResNetSpace(widths=(4, 8), depths=(1, 1), strides=(1, 2))
    arch = space.sample(1, seed=0)[0]
    paths = [tmp_path / "a.db", tmp_path / "b.db"]
    for seed, path in enumerate(paths):  # one teacher id, two trainings
        with RecordStore(path) as store:
            store.add_task(task)
            state = space.build(space.teacher, 3, 3, seed=seed).state_dict()
            tid = store.add_teacher(task, space, space.teacher, recipe, 0, 0.9, state_dict=state)
            store.add_run(task, arch, mode="kd", seed=seed, recipe=recipe, teacher_id=tid,
                          test_acc=0.5)  # fmt: skip
    assert main(["records", "merge", str(tmp_path / "all.db"), *map(str, paths)]) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.startswith("    ")]
    assert len(lines) == 2 and len(set(lines)) == 2  # the teacher and its run, each once
    assert "learned from teacher weights SHA-1" in lines[1]
    assert "2 conflicting records were not merged" in captured.err
    assert "--teachers-only" in captured.err


def test_collect_exit_codes(tmp_path, capsys, monkeypatch):
    import torch

    from dassgnn.collect.jobs import Worker

    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(tiny_plan_dict(students=1, kd_seeds=[0], scratch_seeds=[0])))
    db = tmp_path / "r.db"
    args = ["collect", "--config", str(plan), "--store", str(db), "--quiet"]
    bad = [
        (["--device", "gpu"], "device 'gpu' is not a torch device"),
        (["--group", "4"], "--group applies to --executor batched, not pool"),
        (["--address", "auto", "--executor", "batched"], "--address applies to --executor ray"),
        (["--workers", "2", "--executor", "serial"], "--workers applies to --executor pool,"),
    ]
    if not torch.cuda.is_available():
        bad.append((["--device", "cuda"], "device 'cuda' is not usable"))
    for options, message in bad:
        assert main([*args, *options]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--workers", "0"])
    assert "argument --workers: must be an integer >= 1, got '0'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [plan]  # nothing was created

    def broken(self, job, weights, start):
        raise FloatingPointError("loss diverged (injected)")

    monkeypatch.setattr(Worker, "_student_job", broken)
    assert main([*args, "--executor", "serial"]) == 1
    captured = capsys.readouterr()
    assert "0 runs done, 2 failed" in captured.out and "  failed: run " in captured.out
    (reason,) = captured.err.strip().splitlines()
    assert reason.startswith("dassgnn collect: 2 runs failed;") and "--retry-failed" in reason
    monkeypatch.undo()
    assert main([*args, "--executor", "serial"]) == 1  # failed runs are kept, not retried
    captured = capsys.readouterr()
    assert "1 skipped (already done), 2 failed earlier (not retried)" in captured.out
    assert "2 runs failed earlier (not retried)" in captured.err
    assert main([*args, "--executor", "serial", "--retry-failed"]) == 0
    assert "2 runs done, 0 failed" in capsys.readouterr().out


def test_snapshot_refuses_to_overwrite_a_file_that_is_not_a_store(collected, tmp_path, capsys):
    _, db = collected
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    assert main(["records", "snapshot", str(db), str(notes)]) == 2
    assert "exists and is not a record store; refusing to overwrite" in capsys.readouterr().err
    assert notes.read_text() == "my notes"
    assert main(["records", "snapshot", str(db), str(notes), "--force"]) == 0
    with RecordStore(notes, readonly=True) as snap:
        assert snap.runs(status=None)
    assert main(["records", "snapshot", str(db), str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
