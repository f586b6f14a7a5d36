"""Writing and reading training runs: the runs part of
[`RecordStore`][dassgnn.records.RecordStore]."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import dassgnn
from dassgnn.records.base import StoreBase
from dassgnn.records.codec import canonical_json, utc_now, weights_sha
from dassgnn.records.errors import RecordConflictError
from dassgnn.records.rows import AddRunResult, RunKey, RunRecord, StudentRecord
from dassgnn.records.validate import (
    KEY_COLUMNS,
    RUN_COLUMNS,
    check_accuracy,
    check_mode,
    check_status,
    check_teacher_sha,
    differences,
    normalize_recipe,
    normalize_result,
)
from dassgnn.utils.validation import check_seed

if TYPE_CHECKING:
    from dassgnn.data.task import Task

__all__ = ["RunMixin", "run_filter"]


class RunMixin(StoreBase):
    """The methods of [`RecordStore`][dassgnn.records.RecordStore] that handle runs."""

    def add_run(
        self,
        task: Task | str,
        arch: Any,
        *,
        mode: str,
        seed: int,
        recipe: Any,
        teacher_id: str = "",
        status: str = "ok",
        test_acc: float | None = None,
        best_test_acc: float | None = None,
        result: Any = None,
        error: str | None = None,
        student: StudentRecord | None = None,
        space_key: str | None = None,
        trainer: str | None = None,
        device: str | None = None,
        wall_time: float | None = None,
        host: str | None = None,
        replace_failed: bool = False,
        teacher_sha: str | None = None,
    ) -> AddRunResult:
        """Records one finished run in one transaction (idempotent per key).

        Args:
            task (Task or str): The task or its key; it must be recorded.
            arch (Arch or str): The student architecture or its id.
            mode (str): ``"kd"`` (needs a recorded ``teacher_id``) or ``"scratch"``.
            seed (int): The training seed.
            recipe (Recipe or dict): The training recipe.
            teacher_id (str, optional): The teacher of a KD run. (default: `""`)
            status (str, optional): ``"ok"`` or ``"failed"``. (default: `"ok"`)
            test_acc (float, optional): Final-epoch test accuracy in $[0, 1]$;
                taken from ``result`` when omitted. Must be `None` when failed.
            best_test_acc (float, optional): Best evaluated epoch; taken from ``result``.
            result (TrainResult or dict, optional): The full result (curves etc.).
            error (str, optional): What went wrong, for a failed run.
            student (StudentRecord, optional): Upserted in the same transaction;
                must match ``arch`` and the task's shape.
            space_key (str, optional): The student's space; defaults to the
                student's, else the teacher's.
            trainer (str, optional): E.g. ``"loop"`` or ``"batched"``.
            device (str, optional): Where it ran; taken from ``result`` when omitted.
            wall_time (float, optional): Seconds; taken from ``result`` when omitted.
            host (str, optional): Machine name. (default: this host's name)
            replace_failed (bool, optional): Replace a stored ``failed`` run of
                the same key. (default: `False`)
            teacher_sha (str, optional): For a KD run, the SHA-1 of the weights
                blob it learned from (the SHA-1 hex digest
                of what [`get_teacher()`][dassgnn.records.RecordStore.get_teacher]
                returned); it must match the stored teacher's weights. (default:
                `None`: the stored teacher's, ``""`` if it has no weights)

        Returns:
            AddRunResult: ``(run_id, inserted, replaced)``; ``inserted=False``
            when an identical run was already recorded.

        Raises:
            ValueError: If the task or teacher is unknown, or ``mode``,
                ``status``, accuracies or the student are invalid.
            TypeError: If an argument has the wrong type.
            RecordConflictError: If the key is recorded with a different result,
                or ``teacher_sha`` is not the hash of the stored teacher's weights.
            RecordStoreError: If the store is read-only.
        """
        self._check_writable()
        row = self._run_row(
            task, arch, mode, seed, recipe, teacher_id, status, test_acc, best_test_acc, result,
            error, trainer, device, wall_time, host,
        )  # fmt: skip
        if student is not None and not isinstance(student, StudentRecord):
            raise TypeError(f"student must be a StudentRecord, got {type(student).__name__}")
        teacher_sha = check_teacher_sha(teacher_sha, row["mode"])
        with self._transaction() as conn:
            task_row = self._task_row_or_raise(conn, row["task_key"])
            teacher_space = self._check_run_teacher(conn, row, teacher_sha)
            space = _one_space(
                space_key, student.space_key if student else None, teacher_space, row["arch_id"]
            )
            row["space_key"] = space
            if student is not None:
                _check_student_fits(student, row["arch_id"], task_row)
                self._upsert_student(conn, student)
            return self._write_run(conn, row, replace_failed)

    def _run_row(
        self, task: Any, arch: Any, mode: Any, seed: Any, recipe: Any, teacher_id: Any,
        status: Any, test_acc: Any, best_test_acc: Any, result: Any, error: Any,
        trainer: Any, device: Any, wall_time: Any, host: Any,
    ) -> dict[str, Any]:  # fmt: skip
        mode, status, seed = check_mode(mode), check_status(status), check_seed(seed)
        recipe_dict, recipe_key = normalize_recipe(recipe)
        result_dict = normalize_result(result)
        teacher_id = "" if teacher_id is None else teacher_id
        if not isinstance(teacher_id, str):
            raise TypeError(f"teacher_id must be a str, got {type(teacher_id).__name__}")
        if mode == "kd" and not teacher_id:
            raise ValueError("mode='kd' needs the teacher_id of a recorded teacher")
        if mode == "scratch" and teacher_id:
            raise ValueError(f"mode='scratch' takes no teacher, got teacher_id={teacher_id!r}")
        if status == "ok":
            test_acc = _from_result(test_acc, result_dict, "test_acc", required=True)
            best_test_acc = _from_result(best_test_acc, result_dict, "best_test_acc")
        elif test_acc is not None or best_test_acc is not None:
            raise ValueError(
                f"a failed run has no accuracy, got test_acc={test_acc!r}, "
                f"best_test_acc={best_test_acc!r}"
            )
        extra = result_dict or {}
        return {
            "task_key": _task_key(task),
            "teacher_id": teacher_id,
            "arch_id": _arch_id(arch),
            "mode": mode,
            "seed": seed,
            "recipe_key": recipe_key,
            "recipe": canonical_json(recipe_dict),
            "space_key": "",
            "trainer": trainer,
            "device": device if device is not None else extra.get("device"),
            "library_version": dassgnn.__version__,
            "status": status,
            "test_acc": test_acc,
            "best_test_acc": best_test_acc,
            "result": None if result_dict is None else canonical_json(result_dict),
            "wall_time": _float_or_none(
                wall_time if wall_time is not None else extra.get("wall_time")
            ),
            "error": None if error is None else str(error),
            "host": host if host is not None else socket.gethostname(),
            "created_at": utc_now(),
            "teacher_sha": "",
        }

    def _check_run_teacher(
        self, conn: sqlite3.Connection, row: dict[str, Any], teacher_sha: str | None
    ) -> str | None:
        """Checks a KD run's teacher, fills ``row["teacher_sha"]``, returns its space key."""
        if row["mode"] != "kd":
            return None
        found = conn.execute(
            "SELECT space_key, weights FROM teachers WHERE teacher_id = ?", (row["teacher_id"],)
        ).fetchone()
        if found is None:
            raise ValueError(
                f"unknown teacher {row['teacher_id']!r}: record it with add_teacher() first"
            )
        stored = "" if found["weights"] is None else weights_sha(found["weights"])
        if teacher_sha and stored and teacher_sha != stored:
            raise RecordConflictError(
                f"the KD run of {row['arch_id']!r} learned from teacher weights with SHA-1 "
                f"{teacher_sha[:12]}, but teacher {row['teacher_id']!r} is recorded with "
                f"weights {stored[:12]}: it was distilled from another network"
            )
        row["teacher_sha"] = teacher_sha or stored
        return found["space_key"]

    def _write_run(
        self, conn: sqlite3.Connection, row: dict[str, Any], replace_failed: bool
    ) -> AddRunResult:
        key = RunKey(*(row[c] for c in KEY_COLUMNS))
        where = " AND ".join(f"{c} = ?" for c in KEY_COLUMNS)
        old = conn.execute(f"SELECT * FROM runs WHERE {where}", key).fetchone()
        if old is None:
            return AddRunResult(self._insert(conn, "runs", row), True)
        diffs = differences(old, row)
        if not diffs:
            return AddRunResult(int(old["run_id"]), False)
        if old["status"] == "failed" and replace_failed:
            sets = ", ".join(f"{c} = :{c}" for c in RUN_COLUMNS)
            args = {**row, "run_id": int(old["run_id"])}
            conn.execute(f"UPDATE runs SET {sets} WHERE run_id = :run_id", args)
            return AddRunResult(int(old["run_id"]), True, True)
        hint = (
            " (pass replace_failed=True to replace a failed run)"
            if old["status"] == "failed"
            else ""
        )
        raise RecordConflictError(
            f"run {tuple(key)} is already recorded (run_id {old['run_id']}) with a different "
            f"result: {'; '.join(diffs)}; the store never overwrites results{hint}"
        )

    def has_run(self, key: RunKey | Iterable[Any], *, include_failed: bool = True) -> bool:
        """Whether a run with this key is recorded.

        Args:
            key (RunKey or tuple): ``(task_key, teacher_id, arch_id, mode, seed,
                recipe_key, space_key)``.
            include_failed (bool, optional): Count ``failed`` runs as recorded.
                (default: `True`)

        Returns:
            bool: Whether it is recorded.

        Raises:
            ValueError: If ``key`` does not have 7 fields.
        """
        key = _as_key(key)
        where = " AND ".join(f"{c} = ?" for c in KEY_COLUMNS)
        if not include_failed:
            where += " AND status = 'ok'"
        row = self._conn.execute(f"SELECT 1 FROM runs WHERE {where}", key).fetchone()
        return row is not None

    def done_keys(self, task_key: str | None = None, *, include_failed: bool = True) -> set[RunKey]:
        """The keys of the recorded runs, for a collector to skip finished jobs.

        Args:
            task_key (str, optional): Only this task's runs. (default: `None`, all)
            include_failed (bool, optional): Include ``failed`` runs. (default: `True`)

        Returns:
            set[RunKey]: The keys.
        """
        clauses, args = [], []
        if task_key is not None:
            clauses.append("task_key = ?")
            args.append(task_key)
        if not include_failed:
            clauses.append("status = 'ok'")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._conn.execute(f"SELECT {', '.join(KEY_COLUMNS)} FROM runs{where}", args)
        return {RunKey(*r) for r in rows}

    def runs(
        self,
        task_key: str | None = None,
        mode: str | None = None,
        status: str | None = "ok",
        *,
        teacher_id: str | None = None,
        arch_id: str | None = None,
    ) -> list[RunRecord]:
        """Returns the recorded runs matching all the given filters, by ``run_id``.

        Args:
            task_key (str, optional): Only this task's runs.
            mode (str, optional): ``"kd"`` or ``"scratch"``.
            status (str, optional): ``"ok"``, ``"failed"``, or `None` for
                both. (default: `"ok"`)
            teacher_id (str, optional): Only this teacher's runs.
            arch_id (str, optional): Only this architecture's runs.

        Returns:
            list[RunRecord]: The runs.

        Raises:
            ValueError: If ``mode`` or ``status`` is invalid.
        """
        where, args = run_filter(task_key, mode, status, teacher_id, arch_id)
        rows = self._conn.execute(f"SELECT * FROM runs{where} ORDER BY run_id", args)
        return [RunRecord.from_row(r) for r in rows]


# ---------------------------------------------------------------------- helpers


def run_filter(
    task_key: str | None = None,
    mode: str | None = None,
    status: str | None = "ok",
    teacher_id: str | None = None,
    arch_id: str | None = None,
    prefix: str = "",
) -> tuple[str, list[Any]]:
    """Builds the ``WHERE`` clause of a runs query.

    Args:
        task_key (str, optional): Task filter.
        mode (str, optional): Mode filter.
        status (str, optional): Status filter. (default: `"ok"`)
        teacher_id (str, optional): Teacher filter.
        arch_id (str, optional): Architecture filter.
        prefix (str, optional): Table alias with its dot, e.g. ``"r."``.

    Returns:
        tuple[str, list[Any]]: The clause (empty or starting with ``" WHERE"``) and its arguments.

    Raises:
        ValueError: If ``mode`` or ``status`` is invalid.
    """
    if mode is not None:
        check_mode(mode)
    if status is not None:
        check_status(status)
    given = {"task_key": task_key, "mode": mode, "status": status}
    given.update(teacher_id=teacher_id, arch_id=arch_id)
    clauses = [(f"{prefix}{c} = ?", v) for c, v in given.items() if v is not None]
    where = " AND ".join(c for c, _ in clauses)
    return (f" WHERE {where}" if where else ""), [v for _, v in clauses]


def _task_key(task: Any) -> str:
    if isinstance(task, str):
        return task
    key = getattr(task, "key", None)
    if not isinstance(key, str):
        raise TypeError(f"task must be a Task or its key, got {type(task).__name__}")
    return key


def _arch_id(arch: Any) -> str:
    if isinstance(arch, str):
        return arch
    arch_id = getattr(arch, "id", None)
    if not isinstance(arch_id, str):
        raise TypeError(f"arch must be an Arch or its id, got {type(arch).__name__}")
    return arch_id


def _as_key(key: Any) -> RunKey:
    fields = tuple(key)
    if len(fields) != len(KEY_COLUMNS):
        raise ValueError(f"a run key has the {len(KEY_COLUMNS)} fields {KEY_COLUMNS}, got {key!r}")
    task_key, teacher_id, arch_id, mode, seed, recipe_key, space = fields
    return RunKey(task_key, teacher_id, arch_id, mode, check_seed(seed), recipe_key, space)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _from_result(
    value: Any, result: dict[str, Any] | None, name: str, required: bool = False
) -> float | None:
    stored = None if result is None else result.get(name)
    if value is None:
        value = stored
    elif stored is not None and float(stored) != float(value):
        raise ValueError(f"{name}={value!r} disagrees with result[{name!r}]={stored!r}")
    if value is None and required:
        raise ValueError(f"status='ok' needs {name} (or a result holding it)")
    return check_accuracy(value, name, optional=not required)


def _one_space(*candidates: str | None) -> str:
    """The one space key among the given ones (the last argument is the arch id)."""
    *keys, arch_id = candidates
    given = {k for k in keys if k}
    if len(given) > 1:
        raise ValueError(
            f"the student {arch_id!r} is given conflicting search spaces {sorted(given)} "
            "(space_key, student.space_key, the teacher's space)"
        )
    return given.pop() if given else ""


def _check_student_fits(student: StudentRecord, arch_id: str, task_row: sqlite3.Row) -> None:
    if not isinstance(student, StudentRecord):
        raise TypeError(f"student must be a StudentRecord, got {type(student).__name__}")
    want = (arch_id, task_row["num_classes"], task_row["channels"], task_row["image_size"])
    have = (student.arch_id, student.num_classes, student.in_channels, student.image_size)
    if want != have:
        raise ValueError(
            f"student (arch_id, num_classes, in_channels, image_size) = {have} does not match "
            f"the run's {want}"
        )
