"""Merging record stores, e.g. the shards written by several machines.

A merge adds the other store's records that this one lacks, skips identical
ones, fills values that are NULL here (a task's role, a teacher's weights), and
reports, never overwrites, records whose key is here with a different content.

A KD run records the SHA-1 of the teacher weights it learned from
(``teacher_sha``). A run of the other store is merged only if it learned from
the weights recorded here for its teacher; one that learned from other weights
(e.g. its part of a plan trained its own teacher) is reported as a conflict,
once. Runs of a teacher in conflict whose weights are unknown are reported too.
Everything that is added is added in one transaction.

A source of an older schema is read from a migrated temporary copy, so stores
written by older versions of dassgnn merge as they are.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dassgnn.records.codec import weights_sha
from dassgnn.records.errors import OldSchemaError
from dassgnn.records.rows import RunKey
from dassgnn.records.validate import (
    KEY_COLUMNS,
    RUN_COLUMNS,
    STUDENT_KEY,
    STUDENT_VALUES,
    differences,
    teacher_changes,
)

if TYPE_CHECKING:
    from dassgnn.records.store import RecordStore

__all__ = ["TABLES", "MergeConflict", "MergeReport", "merge_stores"]

TABLES = ("tasks", "students", "teachers", "runs", "embeddings")
"""The tables a merge copies, in the order it copies them."""


@dataclass(frozen=True)
class MergeConflict:
    """A record of the other store whose key is here with a different content.

    Args:
        table (str): The table.
        key (tuple): The record's key, e.g. a [`RunKey`][dassgnn.records.RunKey].
        detail (str): What differs (``"column: here -> there"``).
    """

    table: str
    key: tuple[Any, ...]
    detail: str

    def __str__(self) -> str:
        return f"{self.table} {tuple(self.key)}: {self.detail}"


@dataclass
class MergeReport:
    """What [`merge_stores()`][dassgnn.records.merge_stores] did.

    Args:
        source (str): The merged store's path.
        added (dict[str, int]): New records per table.
        identical (dict[str, int]): Records skipped because they were already here.
        updated (dict[str, int]): Records here that got a NULL value filled in
            (task role, teacher weights or noise) or, with ``replace_failed``,
            a failed run replaced.
        conflicts (list[MergeConflict]): Records not merged because their key
            is here with a different content.
    """

    source: str
    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    identical: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    conflicts: list[MergeConflict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """bool: Whether there was no conflict."""
        return not self.conflicts

    def __str__(self) -> str:
        parts = [f"merged {self.source}"]
        for name in TABLES:
            parts.append(
                f"  {name:<11} +{self.added[name]} added, {self.identical[name]} identical, "
                f"{self.updated[name]} updated"
            )
        parts.append(f"  conflicts   {len(self.conflicts)}")
        parts += [f"    {c}" for c in self.conflicts[:20]]
        if len(self.conflicts) > 20:
            parts.append(f"    ... and {len(self.conflicts) - 20} more")
        return "\n".join(parts)


def merge_stores(
    target: RecordStore,
    other: str | os.PathLike[str] | RecordStore,
    *,
    replace_failed: bool = False,
) -> MergeReport:
    """Adds the records of ``other`` to ``target`` in one transaction.

    Args:
        target (RecordStore): The store to write (opened writable).
        other (str or PathLike or RecordStore): The store to read; a path is
            opened read-only (one of an older schema: a migrated temporary copy).
        replace_failed (bool, optional): Let an ``ok`` run of ``other`` replace
            a ``failed`` run of the same key here (counted as updated).
            (default: `False`)

    Returns:
        MergeReport: Counts per table and the conflicts.

    Raises:
        ValueError: If ``other`` is the same file as ``target``.
        FileNotFoundError: If ``other`` is a path with no file.
        RecordStoreError: If ``target`` is read-only or ``other`` cannot be opened.
    """
    from dassgnn.records.store import RecordStore

    target._check_writable()
    with contextlib.ExitStack() as stack:
        source: RecordStore
        if isinstance(other, RecordStore):
            source, name = other, str(other.path)
        else:
            name = str(other)
            if Path(other).exists() and os.path.samefile(other, target.path):
                raise ValueError(f"cannot merge the store {target.path} into itself")
            source = _open_source(Path(other), stack)
        if source.path.exists() and os.path.samefile(source.path, target.path):
            raise ValueError(f"cannot merge the store {target.path} into itself")
        report = MergeReport(source=name)
        src = source._conn
        with target._transaction() as conn:
            _merge_tasks(conn, src, report)
            _merge_simple(conn, src, report, "students", STUDENT_KEY, STUDENT_VALUES)
            bad_teachers, same = _merge_teachers(conn, src, report)
            _merge_runs(conn, src, report, bad_teachers, same, replace_failed)
            _merge_simple(
                conn, src, report, "embeddings", ("kind", "source_key"), ("dtype", "shape", "data")
            )
        return report


def _open_source(path: Path, stack: contextlib.ExitStack) -> RecordStore:
    """Opens a source read-only; one of an older schema through a migrated temporary copy."""
    from dassgnn.records import schema
    from dassgnn.records.store import RecordStore

    try:
        return stack.enter_context(RecordStore(path, readonly=True))
    except OldSchemaError:
        pass
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="dassgnn-merge-"))
    copy = Path(folder) / path.name
    schema.copy_database(path, copy)
    return stack.enter_context(RecordStore(copy))


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    cols = ", ".join(row)
    conn.execute(
        f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
    )


def _find(conn: sqlite3.Connection, table: str, key_cols: tuple[str, ...], row: Any) -> Any:
    where = " AND ".join(f"{c} = ?" for c in key_cols)
    return conn.execute(
        f"SELECT * FROM {table} WHERE {where}", tuple(row[c] for c in key_cols)
    ).fetchone()


def _rows(src: sqlite3.Connection, table: str) -> Any:
    cursor = src.execute(f"SELECT * FROM {table} ORDER BY rowid")
    names = [d[0] for d in cursor.description]
    for values in cursor:
        yield dict(zip(names, values, strict=True))


def _merge_tasks(conn: sqlite3.Connection, src: sqlite3.Connection, report: MergeReport) -> None:
    for row in _rows(src, "tasks"):
        key = (row["task_key"],)
        old = _find(conn, "tasks", ("task_key",), row)
        if old is None:
            _insert(conn, "tasks", row)
            report.added["tasks"] += 1
            continue
        diffs = differences(old, row, ("spec",))
        if old["role"] is not None and row["role"] is not None and old["role"] != row["role"]:
            diffs.append(f"role: {old['role']!r} -> {row['role']!r}")
        if diffs:
            report.conflicts.append(MergeConflict("tasks", key, "; ".join(diffs)))
        elif old["role"] is None and row["role"] is not None:
            conn.execute("UPDATE tasks SET role = ? WHERE task_key = ?", (row["role"], key[0]))
            report.updated["tasks"] += 1
        else:
            report.identical["tasks"] += 1


def _merge_simple(
    conn: sqlite3.Connection,
    src: sqlite3.Connection,
    report: MergeReport,
    table: str,
    key_cols: tuple[str, ...],
    value_cols: tuple[str, ...],
) -> None:
    for row in _rows(src, table):
        old = _find(conn, table, key_cols, row)
        if old is None:
            _insert(conn, table, row)
            report.added[table] += 1
            continue
        diffs = differences(old, row, value_cols)
        if diffs:
            key = tuple(row[c] for c in key_cols)
            report.conflicts.append(MergeConflict(table, key, "; ".join(diffs)))
        else:
            report.identical[table] += 1


def _merge_teachers(
    conn: sqlite3.Connection, src: sqlite3.Connection, report: MergeReport
) -> tuple[set[str], dict[str, str]]:
    """Merges the teachers; returns the ids in conflict and, for teachers whose
    weights are equal tensors in other bytes, ``{sha there: sha here}``."""
    bad: set[str] = set()
    same: dict[str, str] = {}
    for row in _rows(src, "teachers"):
        old = _find(conn, "teachers", ("teacher_id",), row)
        if old is None:
            _insert(conn, "teachers", row)
            report.added["teachers"] += 1
            continue
        diffs, fills = teacher_changes(old, row)
        if not diffs and old["weights"] is not None and row["weights"] is not None:
            same[weights_sha(row["weights"])] = weights_sha(old["weights"])
        if diffs:
            bad.add(row["teacher_id"])
            report.conflicts.append(
                MergeConflict("teachers", (row["teacher_id"],), "; ".join(diffs))
            )
        elif fills:
            sets = ", ".join(f"{c} = ?" for c in fills)
            conn.execute(
                f"UPDATE teachers SET {sets} WHERE teacher_id = ?",
                (*fills.values(), row["teacher_id"]),
            )
            report.updated["teachers"] += 1
        else:
            report.identical["teachers"] += 1
    return bad, same


def _merge_runs(
    conn: sqlite3.Connection,
    src: sqlite3.Connection,
    report: MergeReport,
    bad_teachers: set[str],
    same: dict[str, str],
    replace_failed: bool,
) -> None:
    here: dict[str, str] = {}  # teacher id -> sha of its weights here ("" if none)

    def sha_here(teacher_id: str) -> str:
        if teacher_id not in here:
            found = conn.execute(
                "SELECT weights FROM teachers WHERE teacher_id = ?", (teacher_id,)
            ).fetchone()
            blob = None if found is None else found["weights"]
            here[teacher_id] = "" if blob is None else weights_sha(blob)
        return here[teacher_id]

    for row in _rows(src, "runs"):
        row.pop("run_id")
        key = RunKey(*(row[c] for c in KEY_COLUMNS))
        if row["mode"] == "kd":
            row["teacher_sha"] = same.get(row["teacher_sha"], row["teacher_sha"])
            mine, theirs = sha_here(row["teacher_id"]), row["teacher_sha"]
            if mine and theirs and mine != theirs:
                detail = (
                    f"learned from teacher weights SHA-1 {theirs[:12]}, not from the "
                    f"{mine[:12]} recorded here"
                )
                report.conflicts.append(MergeConflict("runs", key, detail))
                continue
            if not (mine and theirs) and row["teacher_id"] in bad_teachers:
                detail = f"its teacher {row['teacher_id']!r} conflicts with the one recorded here"
                report.conflicts.append(MergeConflict("runs", key, detail))
                continue
        old = _find(conn, "runs", KEY_COLUMNS, row)
        if old is None:
            _insert(conn, "runs", row)
            report.added["runs"] += 1
            continue
        diffs = differences(old, row)
        if not diffs:
            report.identical["runs"] += 1
        elif old["status"] == "failed" and row["status"] == "ok" and replace_failed:
            sets = ", ".join(f"{c} = ?" for c in RUN_COLUMNS)
            args = (*(row[c] for c in RUN_COLUMNS), old["run_id"])
            conn.execute(f"UPDATE runs SET {sets} WHERE run_id = ?", args)
            report.updated["runs"] += 1
        else:
            report.conflicts.append(MergeConflict("runs", key, "; ".join(diffs)))
