"""The connection handling shared by the parts of [`RecordStore`][dassgnn.records.RecordStore]."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import dassgnn
from dassgnn.records import schema
from dassgnn.records.codec import canonical_json, utc_now
from dassgnn.records.errors import RecordConflictError, RecordStoreError
from dassgnn.records.rows import StudentRecord
from dassgnn.records.validate import STUDENT_KEY, STUDENT_VALUES, differences

S = TypeVar("S", bound="StoreBase")

if TYPE_CHECKING:
    import os

__all__ = ["StoreBase"]


class StoreBase:
    """Opens and closes a store, runs transactions; the base of
    [`RecordStore`][dassgnn.records.RecordStore].

    Args:
        path (str or PathLike): The database file.
        readonly (bool, optional): Open read-only. (default: `False`)
        timeout (float, optional): Seconds to wait for a write lock. (default: `60.0`)
        create (bool, optional): Create a missing store (when writable). (default: `True`)

    Raises:
        FileNotFoundError: If there is no file and ``readonly`` or not ``create``.
        RecordStoreError: See `open_connection()`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        timeout: float = 60.0,
        create: bool = True,
    ) -> None:
        self._path = Path(path).expanduser()
        self._readonly = bool(readonly)
        conn, meta = schema.open_connection(
            self._path,
            readonly=self._readonly,
            timeout=float(timeout),
            library_version=dassgnn.__version__,
            create=bool(create),
        )
        conn.row_factory = sqlite3.Row
        self._conn_or_none: sqlite3.Connection | None = conn
        self._meta = meta

    # ----------------------------------------------------------------- lifecycle

    @property
    def path(self) -> Path:
        """Path: The database file."""
        return self._path

    @property
    def readonly(self) -> bool:
        """bool: Whether the store was opened read-only."""
        return self._readonly

    @property
    def schema_version(self) -> int:
        """int: The store's schema version."""
        return int(self._meta["schema_version"])

    @property
    def meta(self) -> dict[str, str]:
        """dict[str, str]: The ``meta`` table (schema_version, created_with, created_at)."""
        return dict(self._meta)

    @property
    def closed(self) -> bool:
        """bool: Whether `close()` was called."""
        return self._conn_or_none is None

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._conn_or_none is None:
            raise RecordStoreError(f"the record store {self._path} is closed")
        return self._conn_or_none

    def close(self) -> None:
        """Closes the connection; further calls are no-ops."""
        if self._conn_or_none is not None:
            schema.close_quietly(self._conn_or_none)
            self._conn_or_none = None

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "readonly" if self._readonly else "writable"
        state = ", closed" if self.closed else ""
        return f"{self.__class__.__name__}({str(self._path)!r}, {mode}{state})"

    def _check_writable(self) -> None:
        if self._readonly:
            raise RecordStoreError(
                f"the record store {self._path} is open read-only; open it with "
                "readonly=False to write"
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        self._check_writable()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _insert(self, conn: sqlite3.Connection, table: str, row: Mapping[str, Any]) -> int:
        cols = ", ".join(row)
        marks = ", ".join(f":{c}" for c in row)
        cursor = conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", dict(row))
        return int(cursor.lastrowid or 0)

    def checkpoint(self, *, vacuum: bool = False) -> None:
        """Makes the file self-contained for committing it to version control.

        Checkpoints the write-ahead log (``TRUNCATE``) and switches the journal
        mode to ``DELETE``, so that no ``-wal``/``-shm`` file stays beside the
        database and it can be opened read-only from a read-only checkout.
        The store stays usable (in rollback-journal mode); reopening it for
        writing switches it back to WAL.

        Args:
            vacuum (bool, optional): Also rebuild the file to drop free pages.
                (default: `False`)

        Raises:
            RecordStoreError: If the store is read-only, or another connection
                keeps the log busy.
        """
        self._check_writable()
        busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        mode = self._conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        if busy or str(mode).lower() != "delete":
            raise RecordStoreError(
                f"cannot checkpoint {self._path}: other connections are using it; close them first"
            )
        if vacuum:
            self._conn.execute("VACUUM")

    def snapshot(
        self, dest: str | os.PathLike[str], *, vacuum: bool = True, force: bool = False
    ) -> Path:
        """Copies a consistent snapshot of the store into one self-contained file.

        Uses SQLite's online backup, so it works while collectors keep writing
        (it sees the runs committed when it starts). The copy is written beside
        ``dest`` and renamed over it, in rollback-journal mode, ready to commit.

        Args:
            dest (str or PathLike): The file to write (a record store there is replaced).
            vacuum (bool, optional): Compact the copy. (default: `True`)
            force (bool, optional): Also replace a file that is not a record store.
                (default: `False`)

        Returns:
            Path: ``dest``.

        Raises:
            ValueError: If ``dest`` is the store itself, a directory, or an existing file that
                is not a record store (without ``force``).
        """
        dest = Path(dest)
        if dest.resolve() == self._path.resolve():
            raise ValueError(f"snapshot destination {str(dest)!r} is the store itself")
        if dest.is_dir():
            raise ValueError(f"snapshot destination {str(dest)!r} is a directory")
        if dest.exists() and not force and not _is_store(dest):
            raise ValueError(
                f"snapshot destination {str(dest)!r} exists and is not a record store; "
                "refusing to overwrite it (force=True, or --force, replaces it)"
            )
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.unlink(missing_ok=True)
        target = sqlite3.connect(tmp)
        try:
            self._conn.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
            if vacuum:
                target.execute("VACUUM")
        finally:
            target.close()
        for suffix in ("-wal", "-shm", "-journal"):  # stale files of the replaced store would be
            dest.with_name(dest.name + suffix).unlink(missing_ok=True)  # applied to the new one
        os.replace(tmp, dest)
        return dest

    def _task_row_or_raise(self, conn: sqlite3.Connection, key: str) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM tasks WHERE task_key = ?", (key,)).fetchone()
        if row is None:
            raise ValueError(f"unknown task {key!r}: record it with add_task() first")
        return row

    def _upsert_student(self, conn: sqlite3.Connection, record: StudentRecord) -> bool:
        if not isinstance(record, StudentRecord):
            raise TypeError(f"student must be a StudentRecord, got {type(record).__name__}")
        row = {**{c: getattr(record, c) for c in (*STUDENT_KEY, *STUDENT_VALUES)}}
        row["arch"] = canonical_json(record.arch)
        where = " AND ".join(f"{c} = :{c}" for c in STUDENT_KEY)
        old = conn.execute(f"SELECT * FROM students WHERE {where}", row).fetchone()
        if old is not None:
            diffs = differences(old, row, STUDENT_VALUES)
            if diffs:
                raise RecordConflictError(
                    f"student {record.key} is already recorded differently: {'; '.join(diffs)}"
                )
            return False
        self._insert(conn, "students", {**row, "created_at": utc_now()})
        return True


def _is_store(path: Path) -> bool:
    """Whether ``path`` is an empty file or an SQLite database with the store's ``meta`` table."""
    if path.stat().st_size == 0:
        return True
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = con.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return row is not None
