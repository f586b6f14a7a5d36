"""Teachers and their weights: the teachers part of [`RecordStore`][dassgnn.records.RecordStore]."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import dassgnn
from dassgnn.records.base import StoreBase
from dassgnn.records.codec import canonical_json, encode_state_dict, utc_now
from dassgnn.records.errors import RecordConflictError
from dassgnn.records.rows import TeacherRecord
from dassgnn.records.validate import check_accuracy, normalize_recipe, teacher_changes
from dassgnn.utils.validation import check_ints, check_seed

if TYPE_CHECKING:
    from torch import Tensor

    from dassgnn.data.task import Task

__all__ = ["TEACHER_COLUMNS", "TeacherMixin", "teacher_record"]

TEACHER_COLUMNS = (
    "teacher_id",
    "task_key",
    "space_key",
    "space",
    "arch_id",
    "recipe_key",
    "recipe",
    "seed",
    "test_acc",
    "trainer",
    "device",
    "wall_time",
    "library_version",
    "weights",
    "noise_seed",
    "noise_shape",
    "created_at",
)
"""Every column of ``teachers``, in insertion order."""

_SELECT = (
    "SELECT t.*, k.num_classes AS num_classes, k.channels AS in_channels "
    "FROM teachers AS t JOIN tasks AS k ON k.task_key = t.task_key"
)


class TeacherMixin(StoreBase):
    """The methods of [`RecordStore`][dassgnn.records.RecordStore] that handle teachers."""

    def add_teacher(
        self,
        task: Task | str,
        space: Any,
        arch: Any,
        recipe: Any,
        seed: int,
        test_acc: float,
        *,
        teacher_id: str | None = None,
        state_dict: Mapping[str, Tensor] | None = None,
        trainer: str | None = None,
        device: str | None = None,
        wall_time: float | None = None,
        noise_seed: int | None = None,
        noise_shape: Sequence[int] | None = None,
    ) -> str:
        """Records a trained teacher (idempotent).

        Re-adding an identical teacher is a no-op; weights or noise settings
        stored as NULL are filled in by a later call that gives them.

        Args:
            task (Task or str): The task it was trained on (must be recorded).
            space (SearchSpace or dict): The search space it spans.
            arch (Arch or str): Its architecture (usually ``space.teacher``) or id.
            recipe (Recipe or dict): How it was trained.
            seed (int): The training seed.
            test_acc (float): Final test accuracy in $[0, 1]$.
            teacher_id (str, optional): The id. (default:
                ``f"{task_key}/{space_key}/{recipe_key}/s{seed}"``)
            state_dict (Mapping[str, Tensor], optional): Its weights, stored as
                float16 (integer buffers kept).
            trainer (str, optional): Which training loop made it.
            device (str, optional): Where it was trained.
            wall_time (float, optional): Training seconds.
            noise_seed (int, optional): Seed of the fixed noise input used for
                its functional embedding.
            noise_shape (Sequence[int], optional): Shape of that noise input.

        Returns:
            str: The teacher's id.

        Raises:
            ValueError: If the task is unknown or a value is out of range.
            TypeError: If an argument has the wrong type.
            RecordConflictError: If the id is recorded with different content.
            RecordStoreError: If the store is read-only.
        """
        self._check_writable()
        row = _teacher_row(
            task, space, arch, recipe, seed, test_acc, teacher_id, state_dict, trainer,
            device, wall_time, noise_seed, noise_shape,
        )  # fmt: skip
        with self._transaction() as conn:
            self._task_row_or_raise(conn, row["task_key"])
            old = conn.execute(
                "SELECT * FROM teachers WHERE teacher_id = ?", (row["teacher_id"],)
            ).fetchone()
            if old is None:
                self._insert(conn, "teachers", row)
                return row["teacher_id"]
            diffs, fills = teacher_changes(old, row)
            if diffs:
                raise RecordConflictError(
                    f"teacher {row['teacher_id']!r} is already recorded differently: "
                    f"{'; '.join(diffs)}"
                )
            for column, value in fills.items():
                conn.execute(
                    f"UPDATE teachers SET {column} = ? WHERE teacher_id = ?",
                    (value, row["teacher_id"]),
                )
        return row["teacher_id"]

    def get_teacher(self, teacher_id: str) -> TeacherRecord:
        """Returns a recorded teacher with its weights.

        Args:
            teacher_id (str): The id.

        Returns:
            TeacherRecord: The record; [`state_dict()`][dassgnn.records.TeacherRecord.state_dict]
            decodes the weights.

        Raises:
            KeyError: If no teacher has this id.
        """
        row = self._conn.execute(f"{_SELECT} WHERE t.teacher_id = ?", (teacher_id,)).fetchone()
        if row is None:
            raise KeyError(f"no teacher {teacher_id!r} in {self._path}")
        return teacher_record(row, with_weights=True)

    def teachers(
        self, task_key: str | None = None, *, with_weights: bool = False
    ) -> list[TeacherRecord]:
        """Returns the recorded teachers, in the order they were added.

        Args:
            task_key (str, optional): Only this task's teachers. (default: `None`, all)
            with_weights (bool, optional): Load the weight blobs too. (default: `False`)

        Returns:
            list[TeacherRecord]: The records.
        """
        sql, args = _SELECT, cast(tuple[str, ...], ())
        if task_key is not None:
            sql, args = sql + " WHERE t.task_key = ?", (task_key,)
        rows = self._conn.execute(sql + " ORDER BY t.rowid", args).fetchall()
        return [teacher_record(r, with_weights=with_weights) for r in rows]


def teacher_record(row: sqlite3.Row, *, with_weights: bool) -> TeacherRecord:
    """Builds a [`TeacherRecord`][dassgnn.records.TeacherRecord] from a row of ``teachers`` joined
    with ``tasks``.

    Args:
        row (sqlite3.Row): The row, with ``num_classes`` and ``in_channels``.
        with_weights (bool): Keep the weight blob.

    Returns:
        TeacherRecord: The record.
    """
    shape = row["noise_shape"]
    return TeacherRecord(
        teacher_id=row["teacher_id"],
        task_key=row["task_key"],
        space_key=row["space_key"],
        space=json.loads(row["space"]),
        arch_id=row["arch_id"],
        recipe_key=row["recipe_key"],
        recipe=json.loads(row["recipe"]),
        seed=row["seed"],
        test_acc=row["test_acc"],
        trainer=row["trainer"],
        device=row["device"],
        wall_time=row["wall_time"],
        library_version=row["library_version"],
        noise_seed=row["noise_seed"],
        noise_shape=None if shape is None else tuple(json.loads(shape)),
        created_at=row["created_at"],
        num_classes=row["num_classes"],
        in_channels=row["in_channels"],
        has_weights=row["weights"] is not None,
        weights=bytes(row["weights"]) if with_weights and row["weights"] is not None else None,
    )


def _teacher_row(
    task: Any, space: Any, arch: Any, recipe: Any, seed: Any, test_acc: Any,
    teacher_id: Any, state_dict: Any, trainer: Any, device: Any, wall_time: Any,
    noise_seed: Any, noise_shape: Any,
) -> dict[str, Any]:  # fmt: skip
    task_key = task if isinstance(task, str) else getattr(task, "key", None)
    if not isinstance(task_key, str):
        raise TypeError(f"task must be a Task or its key, got {type(task).__name__}")
    arch_id = arch if isinstance(arch, str) else getattr(arch, "id", None)
    if not isinstance(arch_id, str):
        raise TypeError(f"arch must be an Arch or its id, got {type(arch).__name__}")
    from dassgnn.space import as_space

    search_space = as_space(space)
    space_data, skey = search_space.to_dict(), search_space.key
    recipe_data, recipe_key = normalize_recipe(recipe)
    seed = check_seed(seed)
    if teacher_id is None:
        teacher_id = f"{task_key}/{skey}/{recipe_key}/s{seed}"
    if not isinstance(teacher_id, str) or not teacher_id:
        raise ValueError(f"teacher_id must be a non-empty str, got {teacher_id!r}")
    if noise_seed is not None:
        noise_seed = check_seed(noise_seed, "noise_seed")
    if noise_shape is not None:
        noise_shape = canonical_json(list(check_ints(noise_shape, "noise_shape", minimum=1)))
    return {
        "teacher_id": teacher_id,
        "task_key": task_key,
        "space_key": skey,
        "space": canonical_json(space_data),
        "arch_id": arch_id,
        "recipe_key": recipe_key,
        "recipe": canonical_json(recipe_data),
        "seed": seed,
        "test_acc": check_accuracy(test_acc, "test_acc"),
        "trainer": trainer,
        "device": device,
        "wall_time": None if wall_time is None else float(wall_time),
        "library_version": dassgnn.__version__,
        "weights": None if state_dict is None else encode_state_dict(state_dict),
        "noise_seed": noise_seed,
        "noise_shape": noise_shape,
        "created_at": utc_now(),
    }
