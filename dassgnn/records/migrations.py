"""The migrations of the record store's schema, one per version step.

[`MIGRATIONS`][dassgnn.records.MIGRATIONS] maps ``from_version`` to a function
that upgrades an open connection by one version; `dassgnn.records.schema` runs
them, in one transaction, when a store of an older schema is opened for writing
(and a new store is built from version 1 by the same functions).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from dassgnn.records.codec import weights_sha
from dassgnn.records.errors import RecordStoreError

__all__ = ["MIGRATIONS"]

MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}
"""``{from_version: migrate(conn)}``: each function upgrades the schema from
``from_version`` to ``from_version + 1``. All run in one transaction with
``schema_version`` updated at its end, so a function must use
``conn.execute`` (``executescript`` would commit) and must not commit.
"""


def _runs_key_with_space(conn: sqlite3.Connection) -> None:
    """Version 1 to 2: a run's unique key also holds the student's space
    (``space_key``), so that scratch runs of the same arch id in two spaces of
    one task are two runs. The ``runs`` table is rebuilt with the new key."""
    from dassgnn.records.schema import BASE_DDL

    ddl = next(s for s in BASE_DDL.split(";") if "CREATE TABLE runs" in s)
    old_key = "UNIQUE (task_key, teacher_id, arch_id, mode, seed, recipe_key)"
    new_key = "UNIQUE (task_key, teacher_id, arch_id, mode, seed, recipe_key, space_key)"
    if old_key not in ddl:
        raise RecordStoreError("the version-1 runs table is not as expected")
    conn.execute(ddl.replace("CREATE TABLE runs", "CREATE TABLE runs_v2").replace(old_key, new_key))
    conn.execute("INSERT INTO runs_v2 SELECT * FROM runs")
    conn.execute("DROP TABLE runs")
    conn.execute("ALTER TABLE runs_v2 RENAME TO runs")
    conn.execute("CREATE INDEX runs_task_mode_status ON runs(task_key, mode, status)")


def _runs_teacher_sha(conn: sqlite3.Connection) -> None:
    """Version 2 to 3: a KD run records which weights it learned from,
    ``runs.teacher_sha`` (the SHA-1 of the teacher's stored weights blob; ``''``
    for scratch runs and where the teacher has no stored weights). Existing KD
    runs get the hash of their teacher's stored weights, which the collector
    sent them."""
    conn.execute("ALTER TABLE runs ADD COLUMN teacher_sha TEXT NOT NULL DEFAULT ''")
    rows = conn.execute("SELECT teacher_id, weights FROM teachers WHERE weights IS NOT NULL")
    for teacher_id, blob in rows.fetchall():
        conn.execute(
            "UPDATE runs SET teacher_sha = ? WHERE mode = 'kd' AND teacher_id = ?",
            (weights_sha(blob), teacher_id),
        )


MIGRATIONS[1] = _runs_key_with_space
MIGRATIONS[2] = _runs_teacher_sha
