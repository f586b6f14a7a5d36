import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

import dassgnn
from dassgnn.data import Task
from dassgnn.kd import Recipe
from dassgnn.records import (
    RECORDS_ENV,
    RecordStore,
    RecordStoreError,
    default_store_path,
    open_default_store,
    schema,
)

from .conftest import insert_old_run

TASK = Task(dataset="digits", classes=(0, 1, 2))
RECIPE = Recipe(epochs=2)
NOW = schema.SCHEMA_VERSION


def make_store(path):
    with RecordStore(path) as store:
        store.add_task(TASK, role="meta-train")
        for seed in range(3):
            store.add_run(TASK, "1,1|16|16", mode="scratch", seed=seed, recipe=RECIPE, test_acc=0.5)
    return path


def run_count(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    finally:
        conn.close()


def set_version(path, version):
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    conn.close()


@pytest.mark.parametrize("header", [b"", b"SQLite format 3\x00"])
def test_corrupt_file_is_rejected_and_untouched(tmp_path, header):
    path = tmp_path / "records.db"
    data = header + os.urandom(4096)
    path.write_bytes(data)
    for readonly in (False, True):
        with pytest.raises(RecordStoreError, match="not a SQLite database"):
            RecordStore(path, readonly=readonly)
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.db"]


def test_foreign_database_is_rejected_and_untouched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE users (name TEXT)")
        conn.execute("INSERT INTO users VALUES ('ada')")
    conn.close()
    data = path.read_bytes()
    for readonly in (False, True):
        with pytest.raises(RecordStoreError, match=r"not a dassgnn record store.*users"):
            RecordStore(path, readonly=readonly)
    assert path.read_bytes() == data  # no tables, no WAL switch
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT name FROM users").fetchall() == [("ada",)]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TABLE meta (key TEXT, value TEXT); INSERT INTO meta VALUES ('app', 'x')",
        "CREATE TABLE meta (id INTEGER, blob BLOB)",
    ],
)
def test_foreign_meta_table_is_rejected(tmp_path, ddl):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.executescript(ddl)
    conn.close()
    data = path.read_bytes()
    with pytest.raises(RecordStoreError, match="not a dassgnn record store"):
        RecordStore(path)
    assert path.read_bytes() == data


def test_empty_file_is_initialised_for_writing_only(tmp_path):
    path = tmp_path / "records.db"
    path.touch()
    with pytest.raises(RecordStoreError, match="empty database"):
        RecordStore(path, readonly=True)
    with RecordStore(path) as store:
        assert store.schema_version == schema.SCHEMA_VERSION
    with pytest.raises(RecordStoreError, match="directory"):
        RecordStore(tmp_path)


def test_newer_schema_is_rejected(tmp_path):
    path = make_store(tmp_path / "records.db")
    set_version(path, 99)
    for readonly in (False, True):
        with pytest.raises(
            RecordStoreError, match=rf"version 99.*reads version {NOW}.*upgrade dassgnn"
        ):
            RecordStore(path, readonly=readonly)
    assert run_count(path) == 3


def _add_note_column(conn):
    conn.execute("ALTER TABLE runs ADD COLUMN note TEXT")
    conn.execute("UPDATE runs SET note = 'migrated'")


def test_migration_runs_when_opened_for_writing(tmp_path, monkeypatch):
    path = make_store(tmp_path / "records.db")
    monkeypatch.setattr(schema, "SCHEMA_VERSION", NOW + 1)
    monkeypatch.setitem(schema.MIGRATIONS, NOW, _add_note_column)
    with pytest.raises(
        RecordStoreError, match=rf"old record-store schema version {NOW}.*readonly=False"
    ):
        RecordStore(path, readonly=True)
    with RecordStore(path) as store:
        assert store.schema_version == NOW + 1 and store.meta["schema_version"] == str(NOW + 1)
        notes = store._conn.execute("SELECT note FROM runs").fetchall()
        assert [n[0] for n in notes] == ["migrated"] * 3
        assert len(store.runs()) == 3
        store.add_run(TASK, "1,1|16|16", mode="scratch", seed=9, recipe=RECIPE, test_acc=0.25)
    with RecordStore(path, readonly=True) as store:
        assert len(store.runs()) == 4
    # a new store is built by the same migrations
    with RecordStore(tmp_path / "new.db") as store:
        assert store.schema_version == NOW + 1
        assert "note" in {r[1] for r in store._conn.execute("PRAGMA table_info(runs)")}


def test_fake_older_store_is_migrated_once(tmp_path, monkeypatch):
    path = make_store(tmp_path / "records.db")
    set_version(path, NOW - 1)
    calls = []
    monkeypatch.setitem(schema.MIGRATIONS, NOW - 1, calls.append)
    with RecordStore(path) as store:
        assert store.schema_version == NOW and len(calls) == 1 and len(store.runs()) == 3
    with RecordStore(path) as store:
        assert len(calls) == 1


def test_version_1_store_gets_the_space_in_the_run_key(tmp_path, monkeypatch):
    from dassgnn.records import StudentRecord
    from dassgnn.space import ResNetSpace

    narrow, wide = (
        ResNetSpace(widths=(4, 8), depths=(2, 2), strides=(1, 2)),
        ResNetSpace(widths=(8, 16), depths=(2, 2), strides=(1, 2)),
    )
    arch = narrow.sample(1, seed=0)[0]
    path = tmp_path / "v1.db"
    with monkeypatch.context() as m:
        m.setattr(schema, "SCHEMA_VERSION", 1)
        with RecordStore(path) as store:
            store.add_task(TASK)
            student = StudentRecord.from_space(narrow, arch, TASK)
            store.add_student(narrow.key, arch, student.params, student.flops,
                              num_classes=3, in_channels=3, image_size=32)  # fmt: skip
            insert_old_run(store, TASK, arch.id, mode="scratch", seed=0, recipe=RECIPE,
                           test_acc=0.5, space=narrow.key)  # fmt: skip
    with RecordStore(path) as store:
        assert store.schema_version == NOW
        (old,) = store.runs()
        assert old.key.space_key == narrow.key and old.test_acc == 0.5
        student = StudentRecord.from_space(wide, arch, TASK)
        store.add_run(
            TASK, arch, mode="scratch", seed=0, recipe=RECIPE, test_acc=0.6, student=student
        )
        assert {r.key.space_key: r.test_acc for r in store.runs()} == {
            narrow.key: 0.5,
            wide.key: 0.6,
        }
        assert {k.space_key for k in store.done_keys()} == {narrow.key, wide.key}
        indexes = {r[1] for r in store._conn.execute("PRAGMA index_list(runs)")}
        assert "runs_task_mode_status" in indexes


def test_version_2_store_gets_the_teacher_sha_of_its_kd_runs(tmp_path, monkeypatch):
    from dassgnn.records.codec import weights_sha
    from dassgnn.space import ResNetSpace

    space = ResNetSpace(widths=(4, 8), depths=(1, 1), strides=(1, 2))
    path = tmp_path / "v2.db"
    with monkeypatch.context() as m:
        m.setattr(schema, "SCHEMA_VERSION", 2)
        with RecordStore(path) as store:
            store.add_task(TASK)
            state = space.build(space.teacher, 3, 3, seed=0).state_dict()
            with_weights = store.add_teacher(TASK, space, space.teacher, RECIPE, 0, 0.9,
                                             state_dict=state)  # fmt: skip
            without = store.add_teacher(TASK, space, space.teacher, RECIPE, 1, 0.8)
            for seed, tid in enumerate((with_weights, without)):
                insert_old_run(store, TASK, "1,1|4|8", mode="kd", seed=seed, recipe=RECIPE,
                               test_acc=0.5, teacher_id=tid, space=space.key)  # fmt: skip
            insert_old_run(store, TASK, "1,1|4|8", mode="scratch", seed=0, recipe=RECIPE,
                           test_acc=0.4, space=space.key)  # fmt: skip
            assert store.schema_version == 2
    with pytest.raises(RecordStoreError, match="old record-store schema version 2"):
        RecordStore(path, readonly=True)
    with RecordStore(path) as store:
        assert store.schema_version == NOW
        sha = weights_sha(store.get_teacher(with_weights).weights)
        assert store.get_teacher(with_weights).weights_sha == sha
        got = {(r.mode, r.teacher_id): r.teacher_sha for r in store.runs()}
        assert got == {("kd", with_weights): sha, ("kd", without): "", ("scratch", ""): ""}
        assert len(store.done_keys()) == 3


def test_failed_or_missing_migration_changes_nothing(tmp_path, monkeypatch):
    path = make_store(tmp_path / "records.db")

    def broken(conn):
        _add_note_column(conn)
        raise RuntimeError("disk says no")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", NOW + 1)
    monkeypatch.setitem(schema.MIGRATIONS, NOW, broken)
    with pytest.raises(
        RecordStoreError, match=rf"from schema version {NOW} to {NOW + 1} failed: disk says no"
    ):
        RecordStore(path)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", NOW + 2)
    monkeypatch.setitem(schema.MIGRATIONS, NOW, _add_note_column)
    with pytest.raises(
        RecordStoreError, match=rf"no migration from schema version {NOW + 1} to {NOW + 2}"
    ):
        RecordStore(path)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", NOW)
    with RecordStore(path, readonly=True) as store:
        assert store.schema_version == NOW and len(store.runs()) == 3
        assert "note" not in {r[1] for r in store._conn.execute("PRAGMA table_info(runs)")}


def test_checkpoint_makes_a_committable_file(tmp_path):
    path = make_store(tmp_path / "work" / "records.db")
    with RecordStore(path) as store:
        assert Path(f"{path}-wal").exists()
        store.checkpoint(vacuum=True)
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["records.db"]

    # a clean checkout: a read-only copy in a read-only folder
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    copy = checkout / "records.db"
    shutil.copy(path, copy)
    copy.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    checkout.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with RecordStore(copy, readonly=True) as store:
            assert len(store.runs()) == 3 and store.tasks() == [TASK]
            assert store.stats()["runs"] == 3
            with pytest.raises(RecordStoreError, match="read-only"):
                store.add_task(TASK)
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                store._conn.execute("DELETE FROM runs")
        assert sorted(p.name for p in checkout.iterdir()) == ["records.db"]
    finally:
        checkout.chmod(stat.S_IRWXU)
        copy.chmod(stat.S_IRUSR | stat.S_IWUSR)

    # reopening for writing switches back to WAL
    with RecordStore(path) as store:
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_store_path(monkeypatch, tmp_path):
    monkeypatch.delenv(RECORDS_ENV, raising=False)
    path = default_store_path()
    assert path == Path(dassgnn.__file__).resolve().parent / "assets" / "records.db"
    monkeypatch.setenv(RECORDS_ENV, str(tmp_path / "missing.db"))
    assert default_store_path() == tmp_path / "missing.db"
    with pytest.raises(FileNotFoundError, match=RECORDS_ENV):
        open_default_store()
    make_store(tmp_path / "missing.db")
    with open_default_store() as store:
        assert store.readonly and len(store.runs()) == 3


def test_reading_a_wal_store_leaves_no_file_beside_it(tmp_path, monkeypatch):
    path = make_store(tmp_path / "work" / "records.db")  # closed, not checkpointed
    assert path.read_bytes()[18:20] == b"\x02\x02"  # still in WAL mode
    assert sorted(p.name for p in path.parent.iterdir()) == ["records.db"]
    data = path.read_bytes()
    assert schema._immutable(path)  # no -wal file: no writer has it open
    with RecordStore(path, readonly=True) as store:
        assert len(store.runs()) == 3 and store.stats()["runs"] == 3
    assert sorted(p.name for p in path.parent.iterdir()) == ["records.db"]
    assert path.read_bytes() == data

    wal = Path(f"{path}-wal")
    wal.touch()  # a writer holds it open: plain mode=ro, which sees its commits
    assert not schema._immutable(path)
    real_access = os.access
    # a read-only folder (chmod does not bind root): SQLite could not create -shm
    monkeypatch.setattr(
        schema.os,
        "access",
        lambda p, mode: False if Path(p) == path.parent else real_access(p, mode),
    )
    assert schema._immutable(path)
    wal.write_bytes(b"x")  # a log with content: never ignore it
    assert not schema._immutable(path)
