"""Tables for analysis (pandas or CSV) and summary statistics of a store."""

from __future__ import annotations

import csv
import os
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dassgnn.records.runs import run_filter

if TYPE_CHECKING:
    from dassgnn.records.store import RecordStore

__all__ = [
    "EXPORT_COLUMNS",
    "export_rows",
    "format_stats",
    "runs_frame",
    "store_stats",
    "write_csv",
]

EXPORT_COLUMNS = (
    "run_id",
    "task_key",
    "dataset",
    "role",
    "num_classes",
    "image_size",
    "in_channels",
    "mode",
    "teacher_id",
    "teacher_test_acc",
    "space_key",
    "arch_id",
    "params",
    "flops",
    "seed",
    "recipe_key",
    "status",
    "test_acc",
    "best_test_acc",
    "wall_time",
    "trainer",
    "device",
    "host",
    "library_version",
    "created_at",
    "error",
)
"""The columns of [`RecordStore.to_frame()`][dassgnn.records.RecordStore.to_frame] and
[`RecordStore.export_csv()`][dassgnn.records.RecordStore.export_csv]:
each run with its task (dataset, role, shape), its teacher's accuracy and the
student's cost (`None` where the student or teacher is not recorded).
"""

_SOURCE = {
    "dataset": "k.dataset",
    "role": "k.role",
    "num_classes": "k.num_classes",
    "image_size": "k.image_size",
    "in_channels": "k.channels",
    "teacher_test_acc": "t.test_acc",
    "params": "s.params",
    "flops": "s.flops",
}

_JOIN = """
FROM runs AS r
JOIN tasks AS k ON k.task_key = r.task_key
LEFT JOIN teachers AS t ON t.teacher_id = r.teacher_id
LEFT JOIN students AS s ON s.space_key = r.space_key AND s.arch_id = r.arch_id
    AND s.num_classes = k.num_classes AND s.in_channels = k.channels
    AND s.image_size = k.image_size
"""


def export_rows(
    store: RecordStore,
    task_key: str | None = None,
    mode: str | None = None,
    status: str | None = "ok",
) -> Iterator[tuple[Any, ...]]:
    """Yields the runs joined with tasks, teachers and students, by ``run_id``.

    Args:
        store (RecordStore): The store.
        task_key (str, optional): Only this task's runs.
        mode (str, optional): ``"kd"`` or ``"scratch"``.
        status (str, optional): ``"ok"``, ``"failed"`` or `None` for both.
            (default: `"ok"`)

    Yields:
        tuple: One value per column of [`EXPORT_COLUMNS`][dassgnn.records.EXPORT_COLUMNS].

    Raises:
        ValueError: If ``mode`` or ``status`` is invalid.
    """
    where, args = run_filter(task_key, mode, status, prefix="r.")
    cols = ", ".join(f"{_SOURCE.get(c, 'r.' + c)} AS {c}" for c in EXPORT_COLUMNS)
    for row in store._conn.execute(f"SELECT {cols} {_JOIN}{where} ORDER BY r.run_id", args):
        yield tuple(row)


def runs_frame(store: RecordStore, **filters: Any) -> Any:
    """The rows of `export_rows()` as a `pandas.DataFrame`.

    Args:
        store (RecordStore): The store.
        **filters: ``task_key``, ``mode``, ``status`` of `export_rows()`.

    Returns:
        pandas.DataFrame: Columns [`EXPORT_COLUMNS`][dassgnn.records.EXPORT_COLUMNS].

    Raises:
        ImportError: If pandas is not installed.
    """
    try:
        import pandas as pd
    except ImportError as err:
        raise ImportError(
            "RecordStore.to_frame() needs pandas (pip install pandas); "
            "RecordStore.export_csv() works without it"
        ) from err
    return pd.DataFrame.from_records(
        list(export_rows(store, **filters)), columns=list(EXPORT_COLUMNS)
    )


def write_csv(store: RecordStore, path: str | os.PathLike[str], **filters: Any) -> int:
    """Writes the rows of `export_rows()` to a CSV file with a header.

    Floats are written with `repr()` (exact round trip); NULL is an empty field.

    Args:
        store (RecordStore): The store.
        path (str or PathLike): The CSV file (its folder must exist).
        **filters: ``task_key``, ``mode``, ``status`` of `export_rows()`.

    Returns:
        int: The number of runs written.
    """
    count = 0
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(EXPORT_COLUMNS)
        for row in export_rows(store, **filters):
            writer.writerow(row)
            count += 1
    return count


def store_stats(store: RecordStore) -> dict[str, Any]:
    """Counts what a store holds.

    Args:
        store (RecordStore): The store.

    Returns:
        dict[str, Any]: ``path``, ``schema_version``, ``created_with``,
        ``created_at``, ``file_size`` (bytes, with the write-ahead log),
        ``tasks``, ``tasks_by_role`` (``"(none)"`` for no role), ``teachers``,
        ``teachers_with_weights``, ``students``, ``runs``,
        ``runs_by_mode_status`` (``{mode: {status: n}}``), ``runs_per_task``
        (``{task_key: n}``, every status), ``run_wall_time``,
        ``teacher_wall_time`` and ``total_wall_time`` (seconds), ``embeddings``.
    """
    conn = store._conn

    def scalar(sql: str) -> Any:
        return conn.execute(sql).fetchone()[0]

    by_role = {
        role if role is not None else "(none)": n
        for role, n in conn.execute("SELECT role, COUNT(*) FROM tasks GROUP BY role ORDER BY role")
    }
    by_mode: dict[str, dict[str, int]] = {}
    for mode, status, n in conn.execute(
        "SELECT mode, status, COUNT(*) FROM runs GROUP BY mode, status ORDER BY mode, status"
    ):
        by_mode.setdefault(mode, {})[status] = n
    per_task = dict(
        conn.execute("SELECT task_key, COUNT(*) FROM runs GROUP BY task_key ORDER BY task_key")
    )
    run_time = float(scalar("SELECT TOTAL(wall_time) FROM runs"))
    teacher_time = float(scalar("SELECT TOTAL(wall_time) FROM teachers"))
    size = sum(
        os.path.getsize(p) for p in (store.path, Path(f"{store.path}-wal")) if os.path.exists(p)
    )
    meta = store.meta
    return {
        "path": str(store.path),
        "schema_version": int(meta["schema_version"]),
        "created_with": meta.get("created_with"),
        "created_at": meta.get("created_at"),
        "file_size": size,
        "tasks": scalar("SELECT COUNT(*) FROM tasks"),
        "tasks_by_role": by_role,
        "teachers": scalar("SELECT COUNT(*) FROM teachers"),
        "teachers_with_weights": scalar("SELECT COUNT(weights) FROM teachers"),
        "students": scalar("SELECT COUNT(*) FROM students"),
        "runs": scalar("SELECT COUNT(*) FROM runs"),
        "runs_by_mode_status": by_mode,
        "runs_per_task": per_task,
        "run_wall_time": run_time,
        "teacher_wall_time": teacher_time,
        "total_wall_time": run_time + teacher_time,
        "embeddings": scalar("SELECT COUNT(*) FROM embeddings"),
    }


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_stats(stats: dict[str, Any]) -> str:
    """Renders [`store_stats()`][dassgnn.records.store_stats] as an aligned, human-readable text
    block.

    Args:
        stats (dict[str, Any]): The output of
            [`RecordStore.stats()`][dassgnn.records.RecordStore.stats].

    Returns:
        str: Several lines, without a trailing newline.

    Raises:
        KeyError: If ``stats`` lacks a key of [`store_stats()`][dassgnn.records.store_stats].
    """
    roles = ", ".join(f"{r}: {n}" for r, n in stats["tasks_by_role"].items())
    modes = ", ".join(
        f"{mode} {status} {n}"
        for mode, by_status in stats["runs_by_mode_status"].items()
        for status, n in by_status.items()
    )
    counts = list(stats["runs_per_task"].values())
    per_task = (
        f"min {min(counts)}, median {statistics.median(counts):g}, max {max(counts)} "
        f"over {len(counts)} tasks"
        if counts
        else "-"
    )
    lines = [
        f"dassgnn record store {stats['path']}",
        f"  schema           v{stats['schema_version']} (created with dassgnn "
        f"{stats['created_with']} at {stats['created_at']})",
        f"  file size        {_size(stats['file_size'])}",
        f"  tasks            {stats['tasks']}" + (f" ({roles})" if roles else ""),
        f"  teachers         {stats['teachers']} ({stats['teachers_with_weights']} with weights)",
        f"  students         {stats['students']}",
        f"  runs             {stats['runs']}" + (f" ({modes})" if modes else ""),
        f"  runs per task    {per_task}",
        f"  wall time        {_duration(stats['total_wall_time'])} (runs "
        f"{_duration(stats['run_wall_time'])}, teachers {_duration(stats['teacher_wall_time'])})",
        f"  embeddings       {stats['embeddings']}",
    ]
    return "\n".join(lines)
