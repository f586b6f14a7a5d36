"""The SQLite schema of the record store, its version, and migrations.

A store is created at the base schema (version 1, `BASE_DDL`) and then
brought to [`SCHEMA_VERSION`][dassgnn.records.SCHEMA_VERSION] by the same
[`MIGRATIONS`][dassgnn.records.MIGRATIONS] that upgrade
an existing older store, so a new store and a migrated one are identical.

Opening rules (see `open_connection()`):

* a file that is not SQLite, or a SQLite database with tables but no dassgnn
  ``meta`` table, is rejected and left untouched;
* a store with a newer schema is rejected (upgrade dassgnn to read it);
* an older store is migrated in one transaction when opened for writing; opened
  read-only it is rejected with a message asking to open it writable once,
  since a reader of the current schema cannot assume the old one is compatible;
* read-only opening never creates or changes a file: it uses SQLite's ``mode=ro``
  URI, except for a store left in WAL mode (not
  [`checkpoint()`][dassgnn.records.RecordStore.checkpoint]-ed) with no ``-wal``
  file beside it, which is opened with ``immutable=1``: no writer has it open
  (a writer keeps the ``-wal`` file while connected), and ``mode=ro`` would
  leave ``-wal`` and ``-shm`` files behind. A writer that opens the store while
  such a reader runs is not seen by it; open read-only only stores that no
  collector is about to write, or checkpoint them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from dassgnn.records.codec import utc_now
from dassgnn.records.errors import OldSchemaError, RecordStoreError
from dassgnn.records.migrations import MIGRATIONS

__all__ = [
    "APPLICATION",
    "BASE_DDL",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "copy_database",
    "open_connection",
]

SCHEMA_VERSION = 3
"""The schema version this library writes."""

APPLICATION = "dassgnn.records"
"""``meta['application']`` of every dassgnn record store."""

APPLICATION_ID = 0x64617373
"""``PRAGMA application_id`` of every store (ASCII ``"dass"``)."""

_SQLITE_MAGIC = b"SQLite format 3\x00"

BASE_DDL = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE tasks (
    task_key TEXT PRIMARY KEY,
    dataset TEXT NOT NULL,
    spec TEXT NOT NULL,
    num_classes INTEGER NOT NULL,
    image_size INTEGER NOT NULL,
    channels INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    role TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE teachers (
    teacher_id TEXT PRIMARY KEY,
    task_key TEXT NOT NULL REFERENCES tasks(task_key),
    space_key TEXT NOT NULL,
    space TEXT NOT NULL,
    arch_id TEXT NOT NULL,
    recipe_key TEXT NOT NULL,
    recipe TEXT NOT NULL,
    seed INTEGER NOT NULL,
    test_acc REAL NOT NULL,
    trainer TEXT,
    device TEXT,
    wall_time REAL,
    library_version TEXT NOT NULL,
    weights BLOB,
    noise_seed INTEGER,
    noise_shape TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX teachers_task ON teachers(task_key);
CREATE TABLE students (
    space_key TEXT NOT NULL,
    arch_id TEXT NOT NULL,
    num_classes INTEGER NOT NULL,
    in_channels INTEGER NOT NULL,
    image_size INTEGER NOT NULL,
    arch TEXT NOT NULL,
    params INTEGER NOT NULL,
    flops INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (space_key, arch_id, num_classes, in_channels, image_size)
);
CREATE TABLE runs (
    run_id INTEGER PRIMARY KEY,
    task_key TEXT NOT NULL REFERENCES tasks(task_key),
    teacher_id TEXT NOT NULL DEFAULT '',
    arch_id TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('kd', 'scratch')),
    seed INTEGER NOT NULL,
    recipe_key TEXT NOT NULL,
    recipe TEXT NOT NULL,
    space_key TEXT NOT NULL DEFAULT '',
    trainer TEXT,
    device TEXT,
    library_version TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    test_acc REAL,
    best_test_acc REAL,
    result TEXT,
    wall_time REAL,
    error TEXT,
    host TEXT,
    created_at TEXT NOT NULL,
    CHECK ((status = 'ok') = (test_acc IS NOT NULL)),
    CHECK ((mode = 'scratch') = (teacher_id = '')),
    UNIQUE (task_key, teacher_id, arch_id, mode, seed, recipe_key)
);
CREATE INDEX runs_task_mode_status ON runs(task_key, mode, status);
CREATE TABLE embeddings (
    kind TEXT NOT NULL,
    source_key TEXT NOT NULL,
    source TEXT NOT NULL,
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,
    data BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, source_key)
);
"""
"""The version-1 tables."""


def _check_magic(path: Path) -> None:
    with path.open("rb") as fh:
        head = fh.read(len(_SQLITE_MAGIC))
    if head and head != _SQLITE_MAGIC:
        raise RecordStoreError(f"{path} is not a SQLite database (bad file header)")


def _immutable(path: Path) -> bool:
    """Whether a read-only open needs ``immutable=1``: a WAL store with no ``-wal``
    file (``mode=ro`` would create ``-wal`` and ``-shm`` files and leave them), or
    with an empty one in a folder we cannot write (SQLite could not create ``-shm``)."""
    with path.open("rb") as fh:
        header = fh.read(20)
    if len(header) < 20 or header[18:20] != b"\x02\x02":
        return False
    wal = Path(f"{path}-wal")
    if not wal.exists():
        return True
    return wal.stat().st_size == 0 and not os.access(path.parent, os.W_OK)


def _connect(path: Path, readonly: bool, timeout: float) -> sqlite3.Connection:
    if readonly:
        query = "mode=ro&immutable=1" if _immutable(path) else "mode=ro"
        target, uri = f"{path.resolve().as_uri()}?{query}", True
    else:
        target, uri = str(path), False
    # isolation_level=None: autocommit; writes open their own BEGIN IMMEDIATE
    conn = sqlite3.connect(target, uri=uri, timeout=timeout, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _read_meta(conn: sqlite3.Connection, path: Path) -> dict[str, str]:
    try:
        rows = conn.execute("SELECT key, value FROM meta").fetchall()
    except sqlite3.OperationalError as err:  # a foreign 'meta' table
        raise RecordStoreError(f"{path} is not a dassgnn record store ({err})") from err
    return {str(k): str(v) for k, v in rows}


def _schema_objects(conn: sqlite3.Connection, path: Path) -> set[str]:
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.DatabaseError as err:
        msg = str(err)
        if "not a database" in msg or "malformed" in msg:
            raise RecordStoreError(f"{path} is not a SQLite database ({msg})") from err
        if "unable to open" in msg:
            raise RecordStoreError(
                f"cannot read {path}: {msg}. A store in WAL mode cannot be read from a "
                "read-only location; run RecordStore(path).checkpoint() on a writable copy"
            ) from err
        raise RecordStoreError(f"cannot read {path}: {msg}") from err
    return {name for (name,) in rows}


def _create(conn: sqlite3.Connection, library_version: str) -> None:
    # one statement at a time: executescript() would commit the open transaction
    for statement in BASE_DDL.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [
            ("application", APPLICATION),
            ("schema_version", "1"),
            ("created_with", library_version),
            ("created_at", utc_now()),
        ],
    )
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def _version(meta: dict[str, str], path: Path) -> int:
    if meta.get("application") != APPLICATION or "schema_version" not in meta:
        raise RecordStoreError(
            f"{path} is not a dassgnn record store (its 'meta' table does not name {APPLICATION!r})"
        )
    try:
        return int(meta["schema_version"])
    except ValueError:
        raise RecordStoreError(
            f"{path} has a malformed schema_version {meta['schema_version']!r}"
        ) from None


def _migrate(conn: sqlite3.Connection, version: int, path: Path) -> int:
    """Runs the migrations from ``version`` to [`SCHEMA_VERSION`][dassgnn.records.SCHEMA_VERSION];
    inside a transaction."""
    target = SCHEMA_VERSION
    for step in range(version, target):
        migration = MIGRATIONS.get(step)
        if migration is None:
            raise RecordStoreError(
                f"no migration from schema version {step} to {step + 1} for {path}; "
                f"this dassgnn cannot upgrade it to version {target}"
            )
        try:
            migration(conn)
        except Exception as err:
            raise RecordStoreError(
                f"migrating {path} from schema version {step} to {step + 1} failed: {err}"
            ) from err
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(target),))
    return target


def _init_or_migrate(conn: sqlite3.Connection, path: Path, library_version: str) -> None:
    """Creates or upgrades the schema in one ``BEGIN IMMEDIATE`` transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        tables = _schema_objects(conn, path)
        if "meta" not in tables:
            if tables:  # another process made it foreign meanwhile: never touch it
                raise RecordStoreError(f"{path} is not a dassgnn record store")
            _create(conn, library_version)
        version = _version(_read_meta(conn, path), path)
        if version < SCHEMA_VERSION:
            _migrate(conn, version, path)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def open_connection(
    path: Path, *, readonly: bool, timeout: float, library_version: str, create: bool = True
) -> tuple[sqlite3.Connection, dict[str, str]]:
    """Opens, checks and (for writing) creates or migrates a record store.

    Nothing is written to a file that fails a check: the header, the tables and
    the ``meta`` table are read before any pragma that changes the file.

    Args:
        path (Path): The database file.
        readonly (bool): Open with ``mode=ro``; never create or migrate.
        timeout (float): Seconds to wait for another writer's lock.
        library_version (str): Recorded as ``created_with`` in a new store.
        create (bool, optional): Create a missing store, or initialise an empty file, when
            writable; without it an empty file is refused like any non-store. (default: `True`)

    Returns:
        tuple[sqlite3.Connection, dict[str, str]]: The connection (autocommit,
        foreign keys on; WAL and ``synchronous=NORMAL`` when writable) and the
        ``meta`` table.

    Raises:
        FileNotFoundError: If the file does not exist and ``readonly`` or not ``create``.
        OldSchemaError: If the store has an older schema and ``readonly``.
        RecordStoreError: If the file is not SQLite, not a dassgnn store, of a
            newer schema, or a migration fails.
    """
    if path.exists():
        if path.is_dir():
            raise RecordStoreError(f"{path} is a directory, not a record store file")
        _check_magic(path)
    elif readonly or not create:
        raise FileNotFoundError(f"no record store at {path}")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = _connect(path, readonly, timeout)
    except sqlite3.Error as err:
        raise RecordStoreError(f"cannot open {path}: {err}") from err
    try:
        tables = _schema_objects(conn, path)
        if "meta" not in tables:
            if tables:
                names = ", ".join(sorted(tables)[:5])
                raise RecordStoreError(
                    f"{path} is not a dassgnn record store: it is a SQLite database with the "
                    f"tables {names} but no 'meta' table; refusing to modify it"
                )
            if readonly or not create:
                raise RecordStoreError(f"{path} is an empty database, not a dassgnn record store")
            _init_or_migrate(conn, path, library_version)
        version = _version(_read_meta(conn, path), path)
        if version > SCHEMA_VERSION:
            raise RecordStoreError(
                f"{path} has record-store schema version {version}, but this dassgnn reads "
                f"version {SCHEMA_VERSION}; upgrade dassgnn to open it"
            )
        if version < SCHEMA_VERSION:
            if readonly:
                raise OldSchemaError(
                    f"{path} has the old record-store schema version {version} (current: "
                    f"{SCHEMA_VERSION}); open it once with readonly=False to migrate it"
                )
            _init_or_migrate(conn, path, library_version)
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RecordStoreError(f"cannot switch {path} to WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous = NORMAL")
        return conn, _read_meta(conn, path)
    except sqlite3.Error as err:
        close_quietly(conn)
        raise RecordStoreError(f"cannot open {path}: {err}") from err
    except BaseException:
        close_quietly(conn)
        raise


def copy_database(source: Path, dest: Path) -> None:
    """Copies a SQLite database into a new file with SQLite's online backup,
    reading ``source`` read-only (as `open_connection()` does, so that no file
    appears beside it), e.g. to migrate a copy of an older store.

    Args:
        source (Path): The database to read.
        dest (Path): The file to write (replaced if it exists).

    Raises:
        FileNotFoundError: If ``source`` does not exist.
        RecordStoreError: If it cannot be read.
    """
    if not source.is_file():
        raise FileNotFoundError(f"no record store at {source}")
    _check_magic(source)
    dest.unlink(missing_ok=True)
    try:
        reader = _connect(source, True, 60.0)
        try:
            target = sqlite3.connect(dest)
            try:
                reader.backup(target)
            finally:
                target.close()
        finally:
            reader.close()
    except sqlite3.Error as err:
        raise RecordStoreError(f"cannot copy {source}: {err}") from err


def close_quietly(conn: sqlite3.Connection) -> None:
    """Closes ``conn``, ignoring errors.

    Args:
        conn (sqlite3.Connection): The connection.
    """
    with contextlib.suppress(sqlite3.Error):
        conn.close()
