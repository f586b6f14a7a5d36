"""The record store: one SQLite file holding the measured KD meta-dataset.

Example::

    from dassgnn.records import RecordStore, RunKey, StudentRecord

    with RecordStore("records.db") as store:
        store.add_task(task, role="meta-train")
        tid = store.add_teacher(task, space, space.teacher, recipe, seed=0,
                                test_acc=0.91, state_dict=teacher.state_dict())
        for arch in space.sample(50, seed=0):
            key = RunKey(task.key, tid, arch.id, "kd", 0, recipe.key, space.key)
            if store.has_run(key):
                continue
            result = distill(...)
            store.add_run(task, arch, mode="kd", seed=0, recipe=recipe, teacher_id=tid,
                          result=result, student=StudentRecord.from_space(space, arch, task))

Every write is one ``BEGIN IMMEDIATE`` transaction, so several processes can
write to the same file (WAL mode, a busy timeout), and a process killed at any
moment leaves every committed record whole and no partial one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from dassgnn.records.codec import canonical_json, sha1_hex, utc_now
from dassgnn.records.errors import RecordConflictError
from dassgnn.records.rows import StudentRecord
from dassgnn.records.runs import RunMixin
from dassgnn.records.teachers import TeacherMixin
from dassgnn.records.validate import STUDENT_KEY, STUDENT_VALUES
from dassgnn.utils.validation import check_seed

if TYPE_CHECKING:
    import os

    from torch import Tensor

    from dassgnn.data.task import Task
    from dassgnn.records.merge import MergeReport

__all__ = ["RecordStore"]


class RecordStore(RunMixin, TeacherMixin):
    r"""A SQLite file of tasks, teachers, students, training runs and embeddings.

    The store never overwrites a measured result: re-adding a record with the
    same key and content is a no-op, with a different content it raises
    [`RecordConflictError`][dassgnn.records.RecordConflictError] (a ``failed`` run may be
    replaced on request). See `dassgnn.records.schema` for the tables.

    Args:
        path (str or PathLike): The database file. Opened for writing it is
            created (with its folder) if missing, switched to WAL mode, and
            migrated if its schema is older.
        readonly (bool, optional): Open with SQLite's ``mode=ro``: works on a
            read-only file or folder (for a store in WAL mode, see
            `checkpoint()`); every write raises. (default: `False`)
        timeout (float, optional): Seconds to wait for another process's write
            lock before failing. (default: `60.0`)
        create (bool, optional): Create the store if it is missing (when
            writable); `False` makes a missing file an error. (default: `True`)

    Raises:
        FileNotFoundError: If there is no file and ``readonly`` or not ``create``.
        OldSchemaError: If the store has an older schema and ``readonly``.
        RecordStoreError: If the file is not a SQLite database, not a dassgnn
            record store, or has a newer schema.
    """

    # --------------------------------------------------------------------- tasks

    def add_task(self, task: Task, role: str | None = None) -> str:
        """Records a task (idempotent).

        Args:
            task (Task): The task.
            role (str, optional): E.g. ``"meta-train"`` or ``"meta-test"``. A
                stored task without a role gets it; a different stored role is
                a conflict. (default: `None`)

        Returns:
            str: The task's key.

        Raises:
            TypeError: If ``task`` is not a [`Task`][dassgnn.data.Task].
            ValueError: If ``role`` is an empty string.
            RecordConflictError: If the task is stored with another role.
        """
        from dassgnn.data.task import Task

        if not isinstance(task, Task):
            raise TypeError(f"task must be a Task, got {type(task).__name__}")
        if role is not None and (not isinstance(role, str) or not role):
            raise ValueError(f"role must be a non-empty str or None, got {role!r}")
        key = task.key
        with self._transaction() as conn:
            old = conn.execute("SELECT role FROM tasks WHERE task_key = ?", (key,)).fetchone()
            if old is None:
                self._insert(conn, "tasks", _task_row(task, role))
            elif role is not None and old["role"] is None:
                conn.execute("UPDATE tasks SET role = ? WHERE task_key = ?", (role, key))
            elif role is not None and old["role"] != role:
                raise RecordConflictError(
                    f"task {key!r} is already recorded with role {old['role']!r}, not {role!r}"
                )
        return key

    def get_task(self, key: str) -> Task:
        """Returns a recorded task.

        Args:
            key (str): Its [`key`][dassgnn.data.Task.key].

        Returns:
            Task: The task.

        Raises:
            KeyError: If no task has this key.
        """
        from dassgnn.data.task import Task

        row = self._conn.execute("SELECT spec FROM tasks WHERE task_key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(f"no task {key!r} in {self._path}")
        return Task.from_json(row["spec"])

    def task_role(self, key: str) -> str | None:
        """Returns a recorded task's role.

        Args:
            key (str): The task's key.

        Returns:
            str or None: The role.

        Raises:
            KeyError: If no task has this key.
        """
        row = self._conn.execute("SELECT role FROM tasks WHERE task_key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(f"no task {key!r} in {self._path}")
        return row["role"]

    def set_role(self, key: str, role: str) -> str | None:
        """Changes a recorded task's role, e.g. to take a task whose labels proved noise
        out of meta-training (``"pilot-rejected"``); its runs stay. Change the role in
        the task's plan too, or collecting that plan again into this store raises
        [`RecordConflictError`][dassgnn.records.RecordConflictError].

        Args:
            key (str): The task's key.
            role (str): The new role.

        Returns:
            str or None: The role it had.

        Raises:
            KeyError: If no task has this key.
            ValueError: If ``role`` is not a non-empty str.
        """
        if not isinstance(role, str) or not role:
            raise ValueError(f"role must be a non-empty str, got {role!r}")
        old = self.task_role(key)
        with self._transaction() as conn:
            conn.execute("UPDATE tasks SET role = ? WHERE task_key = ?", (role, key))
        return old

    def tasks(self, role: str | None = None) -> list[Task]:
        """Returns the recorded tasks, in the order they were added.

        Args:
            role (str, optional): Only tasks with this role. (default: `None`, all)

        Returns:
            list[Task]: The tasks.
        """
        from dassgnn.data.task import Task

        sql, args = "SELECT spec FROM tasks", cast(tuple[str, ...], ())
        if role is not None:
            sql, args = sql + " WHERE role = ?", (role,)
        rows = self._conn.execute(sql + " ORDER BY rowid", args).fetchall()
        return [Task.from_json(r["spec"]) for r in rows]

    # ------------------------------------------------------------------ students

    def add_student(
        self,
        space_key: str,
        arch: Any,
        params: int,
        flops: int,
        *,
        num_classes: int,
        in_channels: int,
        image_size: int,
    ) -> StudentRecord:
        """Records a student architecture and its cost (idempotent).

        See [`StudentRecord.from_space()`][dassgnn.records.StudentRecord.from_space] to compute the
        cost from a space.

        Args:
            space_key (str): `space_key()` of its space.
            arch (Arch): The architecture.
            params (int): Trainable parameters.
            flops (int): Multiply-accumulates per image.
            num_classes (int): Output classes the cost was computed for.
            in_channels (int): Image channels.
            image_size (int): Image height and width.

        Returns:
            StudentRecord: The record.

        Raises:
            TypeError: If a number is not an int.
            RecordConflictError: If the key is stored with another cost.
        """
        record = StudentRecord(
            space_key=str(space_key),
            arch_id=arch.id,
            arch=arch.to_dict(),
            params=check_seed(params, "params"),
            flops=check_seed(flops, "flops"),
            num_classes=check_seed(num_classes, "num_classes"),
            in_channels=check_seed(in_channels, "in_channels"),
            image_size=check_seed(image_size, "image_size"),
        )
        with self._transaction() as conn:
            self._upsert_student(conn, record)
        return record

    def students(self, space_key: str | None = None) -> list[StudentRecord]:
        """Returns the recorded students.

        Args:
            space_key (str, optional): Only those of this space. (default: `None`, all)

        Returns:
            list[StudentRecord]: The records, in the order they were added.
        """
        sql, args = "SELECT * FROM students", cast(tuple[str, ...], ())
        if space_key is not None:
            sql, args = sql + " WHERE space_key = ?", (space_key,)
        rows = self._conn.execute(sql + " ORDER BY rowid", args).fetchall()
        names = (*STUDENT_KEY, *STUDENT_VALUES)
        return [
            StudentRecord(**{**{n: r[n] for n in names}, "arch": json.loads(r["arch"])})
            for r in rows
        ]

    # ---------------------------------------------------------------------- runs
    # ---------------------------------------------------------------- embeddings

    def put_embedding(self, kind: str, source: Mapping[str, Any], tensor: Tensor) -> str:
        """Caches a tensor computed from ``source`` (replacing an older entry).

        Args:
            kind (str): What it is, e.g. ``"teacher-functional"``.
            source (Mapping[str, Any]): JSON-serialisable description of what it
                was computed from; its canonical JSON's SHA-1 is the key.
            tensor (Tensor): The embedding, stored with its dtype and shape.

        Returns:
            str: The ``source_key``.

        Raises:
            TypeError: If ``source`` is not a JSON-serialisable mapping or
                ``tensor`` not a dense tensor.
        """
        from dassgnn.records.codec import encode_tensor

        text, key = _source_key(kind, source)
        dtype, shape, data = encode_tensor(tensor)
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO embeddings (kind, source_key, source, dtype, shape, "
                "data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kind, key, text, dtype, json.dumps(list(shape)), data, utc_now()),
            )
        return key

    def get_embedding(self, kind: str, source: Mapping[str, Any]) -> Tensor | None:
        """Returns a cached tensor, or `None` if there is none.

        Args:
            kind (str): What it is.
            source (Mapping[str, Any]): What it was computed from.

        Returns:
            Tensor or None: The tensor (a new CPU tensor).

        Raises:
            TypeError: If ``source`` is not a JSON-serialisable mapping.
        """
        from dassgnn.records.codec import decode_tensor

        _, key = _source_key(kind, source)
        row = self._conn.execute(
            "SELECT dtype, shape, data FROM embeddings WHERE kind = ? AND source_key = ?",
            (kind, key),
        ).fetchone()
        if row is None:
            return None
        return decode_tensor(row["dtype"], json.loads(row["shape"]), row["data"])

    # ------------------------------------------------------- analysis and merging

    def stats(self) -> dict[str, Any]:
        """Counts of what the store holds; see [`store_stats()`][dassgnn.records.store_stats].

        Returns:
            dict[str, Any]: The statistics (JSON-serialisable).
        """
        from dassgnn.records.export import store_stats

        return store_stats(self)

    def to_frame(self, **filters: Any) -> Any:
        """Runs joined with their task and student, as a `pandas.DataFrame`.

        Args:
            **filters: ``task_key``, ``mode``, ``status`` (default ``"ok"``) as in `runs()`.

        Returns:
            pandas.DataFrame: One row per run, columns
            [`EXPORT_COLUMNS`][dassgnn.records.EXPORT_COLUMNS].

        Raises:
            ImportError: If pandas is not installed.
        """
        from dassgnn.records.export import runs_frame

        return runs_frame(self, **filters)

    def export_csv(self, path: str | os.PathLike[str], **filters: Any) -> int:
        """Writes `to_frame()`'s table as CSV (no pandas needed).

        Args:
            path (str or PathLike): The CSV file.
            **filters: As in `to_frame()`.

        Returns:
            int: The number of runs written.
        """
        from dassgnn.records.export import write_csv

        return write_csv(self, path, **filters)

    def merge(
        self, other: str | os.PathLike[str] | RecordStore, *, replace_failed: bool = False
    ) -> MergeReport:
        """Adds another store's records in one transaction (see `dassgnn.records.merge`).

        Records with a key that is here with a different content are reported
        in `MergeReport.conflicts`, never overwritten; the
        other records
        are merged all the same.

        Args:
            other (str or PathLike or RecordStore): The store to read; a path
                is opened read-only.
            replace_failed (bool, optional): Let an ``ok`` run of ``other``
                replace a ``failed`` run here. (default: `False`)

        Returns:
            MergeReport: What was added, skipped as identical, updated and in conflict.

        Raises:
            ValueError: If ``other`` is this store's file.
            RecordStoreError: If this store is read-only or ``other`` cannot be opened.
        """
        from dassgnn.records.merge import merge_stores

        return merge_stores(self, other, replace_failed=replace_failed)


def _task_row(task: Task, role: str | None) -> dict[str, Any]:
    return {
        "task_key": task.key,
        "dataset": task.dataset,
        "spec": task.to_json(),
        "num_classes": task.num_classes,
        "image_size": task.image_size,
        "channels": task.channels,
        "seed": task.seed,
        "role": role,
        "created_at": utc_now(),
    }


def _source_key(kind: str, source: Mapping[str, Any]) -> tuple[str, str]:
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty str, got {kind!r}")
    if not isinstance(source, Mapping):
        raise TypeError(f"source must be a dict, got {type(source).__name__}")
    text = canonical_json(dict(source))
    return text, sha1_hex(text)
