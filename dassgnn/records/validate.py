"""Validation of records, and what "the same result" means.

A run's key ([`RunKey`][dassgnn.records.RunKey]) says what was trained; its
*result* columns (`RESULT_COLUMNS`) say what was measured. Two rows with
the same key are the same run when their results are equal; provenance
(trainer, device, host, wall time, library version, time of writing) may differ
and is not compared, so that a job retried after a crash whose commit did land
is recognised as already recorded.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

from dassgnn.records.codec import canonical_json, weights_sha
from dassgnn.records.rows import MODES, STATUSES, RunKey
from dassgnn.utils.validation import check_choice, check_seed

__all__ = [
    "KEY_COLUMNS",
    "RESULT_COLUMNS",
    "RUN_COLUMNS",
    "check_accuracy",
    "check_seed",
    "check_teacher_sha",
    "differences",
    "normalize_recipe",
    "normalize_result",
    "same_weights",
    "teacher_changes",
]

KEY_COLUMNS = RunKey._fields
"""The columns of [`RunKey`][dassgnn.records.RunKey], in order."""

RESULT_COLUMNS = (
    "recipe",
    "status",
    "test_acc",
    "best_test_acc",
    "result",
    "error",
    "teacher_sha",
)
"""The columns compared to decide whether two rows of one key hold the same result
(``teacher_sha`` only where both rows know it)."""

RUN_COLUMNS = (
    *KEY_COLUMNS,
    "recipe",
    "trainer",
    "device",
    "library_version",
    "status",
    "test_acc",
    "best_test_acc",
    "result",
    "wall_time",
    "error",
    "host",
    "created_at",
    "teacher_sha",
)
"""Every column of ``runs`` but ``run_id``, in insertion order."""

PROVENANCE_KEYS = ("wall_time", "device")
"""Keys of a result dict that describe how, not what, and are not compared."""


def check_accuracy(value: Any, name: str, *, optional: bool = False) -> float | None:
    """Checks that ``value`` is an accuracy: a finite real number in $[0, 1]$.

    Args:
        value (Any): The value.
        name (str): Its name, for the error message.
        optional (bool, optional): Whether `None` is allowed. (default: `False`)

    Returns:
        float or None: The value as a float.

    Raises:
        TypeError: If ``value`` is not a real number.
        ValueError: If it is not finite or outside $[0, 1]$.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1], got {type(value).__name__} {value!r}")
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
    return value


def check_mode(mode: Any) -> str:
    """Checks a run mode (``"kd"`` or ``"scratch"``).

    Args:
        mode (Any): The mode.

    Returns:
        str: The mode.

    Raises:
        ValueError: If it is not a valid mode.
    """
    return check_choice(mode, "mode", MODES)


def check_status(status: Any) -> str:
    """Checks a run status (``"ok"`` or ``"failed"``).

    Args:
        status (Any): The status.

    Returns:
        str: The status.

    Raises:
        ValueError: If it is not a valid status.
    """
    return check_choice(status, "status", STATUSES)


def check_teacher_sha(teacher_sha: Any, mode: str) -> str | None:
    """Checks the ``teacher_sha`` of a run: 40 lowercase hex digits, for KD runs only.

    Args:
        teacher_sha (Any): The value; `None` or ``""`` means unknown.
        mode (str): The run's mode.

    Returns:
        str or None: The value.

    Raises:
        TypeError: If it is not a string.
        ValueError: If it is malformed, or given for a scratch run.
    """
    if teacher_sha is None:
        return None
    if not isinstance(teacher_sha, str):
        raise TypeError(f"teacher_sha must be a str, got {type(teacher_sha).__name__}")
    if mode != "kd" and teacher_sha:
        raise ValueError(f"mode={mode!r} takes no teacher_sha, got {teacher_sha!r}")
    if teacher_sha and not (
        len(teacher_sha) == 40 and all(c in "0123456789abcdef" for c in teacher_sha)
    ):
        raise ValueError(f"teacher_sha must be 40 lowercase hex digits, got {teacher_sha!r}")
    return teacher_sha


def normalize_recipe(recipe: Any) -> tuple[dict[str, Any], str]:
    """Returns a recipe's full field dict and key.

    Args:
        recipe (Recipe or Mapping): A [`Recipe`][dassgnn.kd.Recipe] or its dict;
            a dict is completed with the defaults by
            [`Recipe.from_dict()`][dassgnn.kd.Recipe.from_dict], so its key is that of the recipe.

    Returns:
        tuple[dict[str, Any], str]: ``(recipe.to_dict(), recipe.key)``.

    Raises:
        TypeError: If ``recipe`` is neither.
        ValueError: If the dict is not a valid recipe.
    """
    from dassgnn.kd.recipe import Recipe

    if isinstance(recipe, Mapping):
        recipe = Recipe.from_dict(dict(recipe))
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a Recipe or its dict, got {type(recipe).__name__}")
    return recipe.to_dict(), recipe.key


def normalize_result(result: Any) -> dict[str, Any] | None:
    """Returns a training result as a JSON-ready dict.

    Args:
        result (TrainResult or Mapping or None): A
            [`TrainResult`][dassgnn.kd.TrainResult], its ``to_dict()``, or `None`.

    Returns:
        dict[str, Any] or None: The dict (round-tripped through JSON, so that
        tuples become lists as they will when read back).

    Raises:
        TypeError: If ``result`` is none of these or not JSON-serialisable.
    """
    if result is None:
        return None
    if not isinstance(result, Mapping):
        if not callable(getattr(result, "to_dict", None)):
            raise TypeError(f"result must be a TrainResult or a dict, got {type(result).__name__}")
        result = result.to_dict()
    return json.loads(canonical_json(dict(result)))


JSON_COLUMNS = ("recipe", "result", "space", "arch", "noise_shape")
"""Columns that hold JSON text."""

TEACHER_IDENTITY = ("task_key", "space_key", "arch_id", "recipe_key", "seed", "test_acc")
"""``teachers`` columns that must agree for two rows of one ``teacher_id``."""

TEACHER_FILLABLE = ("noise_seed", "noise_shape", "weights")
"""``teachers`` columns a later write may fill when they are NULL (never change)."""

STUDENT_VALUES = ("arch", "params", "flops")
"""``students`` columns that must agree for two rows of one key."""

STUDENT_KEY = ("space_key", "arch_id", "num_classes", "in_channels", "image_size")
"""The primary key of ``students``."""


def _comparable(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in JSON_COLUMNS:
        data = json.loads(value) if isinstance(value, str) else value
        if column == "result":
            data = {k: v for k, v in data.items() if k not in PROVENANCE_KEYS}
        return canonical_json(data)
    if column in ("test_acc", "best_test_acc"):
        return float(value)
    if column == "weights":
        return bytes(value)
    return value


def differences(
    old: Mapping[str, Any], new: Mapping[str, Any], columns: tuple[str, ...] = RESULT_COLUMNS
) -> list[str]:
    """Lists the columns in which two rows of the same key differ.

    Args:
        old (Mapping[str, Any]): A stored row (JSON columns as text or decoded).
        new (Mapping[str, Any]): A candidate row.
        columns (tuple[str, ...], optional): The columns to compare.
            (default: `RESULT_COLUMNS`)

    Returns:
        list[str]: ``"column: old -> new"`` for each differing column (JSON
        columns compared canonically, results without their
        `PROVENANCE_KEYS`, ``teacher_sha`` only where both are known); empty
        if the rows agree.
    """
    out = []
    for column in columns:
        a, b = _comparable(column, old[column]), _comparable(column, new[column])
        if column == "teacher_sha" and not (a and b):
            continue  # "" is unknown: no evidence of other weights
        if a != b:
            if column == "weights":
                if same_weights(a, b):
                    continue
                out.append(f"weights: SHA-1 {weights_sha(a)[:12]} -> {weights_sha(b)[:12]}")
                continue
            out.append(f"{column}: {_short(a)} -> {_short(b)}")
    return out


def teacher_changes(
    old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """Compares a stored teacher row with a new one of the same ``teacher_id``.

    Args:
        old (Mapping[str, Any]): The stored row.
        new (Mapping[str, Any]): The new row.

    Returns:
        tuple[list[str], dict[str, Any]]: The conflicting differences (see
        `differences()`) and the `TEACHER_FILLABLE` columns that are
        NULL in ``old`` and set in ``new``, to be filled in.
    """
    diffs = differences(old, new, TEACHER_IDENTITY)
    both = tuple(c for c in TEACHER_FILLABLE if old[c] is not None and new[c] is not None)
    diffs += differences(old, new, both)
    fills = {c: new[c] for c in TEACHER_FILLABLE if old[c] is None and new[c] is not None}
    return diffs, fills


def same_weights(a: bytes, b: bytes) -> bool:
    """Whether two weight blobs hold equal tensors (byte-equal or tensor-equal).

    Args:
        a (bytes): A blob of `encode_state_dict()`.
        b (bytes): Another.

    Returns:
        bool: Whether they hold the same names, dtypes and values.
    """
    if a == b:
        return True
    import torch

    from dassgnn.records.codec import decode_state_dict

    sa, sb = decode_state_dict(a), decode_state_dict(b)
    return list(sa) == list(sb) and all(
        sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]) for k in sa
    )


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
