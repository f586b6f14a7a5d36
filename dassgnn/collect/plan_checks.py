"""Reading plan files and checking their values, with messages that say what to write.

[`Plan.from_file()`][dassgnn.collect.Plan.from_file] and
[`Plan.from_dict()`][dassgnn.collect.Plan.from_dict] use these helpers: a syntax
error names the file and line (TOML and YAML alike), and the common slips of a
hand-written plan (``[tasks]`` for ``[[tasks]]``, a recipe setting inside a task
group, a misspelt key, a single seed for a list of seeds) get a message with
the fix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import numbers
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

from dassgnn.utils.validation import MAX_SEED, check_bool, check_int, check_ints, check_seed

__all__ = [
    "PLAN_KEYS",
    "check_group_fields",
    "group_entries",
    "read_plan_file",
    "reraise_in",
    "unknown_keys",
]

PLAN_KEYS = ("name", "store", "recipe", "teacher_recipe", "tasks")
"""The top-level keys of a plan."""


def read_plan_file(path: str | Path) -> dict[str, Any]:
    """Reads a ``.toml``, ``.yaml`` or ``.yml`` plan file into a mapping.

    Args:
        path (str or Path): The file.

    Returns:
        dict[str, Any]: The parsed file.

    Raises:
        FileNotFoundError: If there is no file.
        ValueError: If the suffix is not known, the text is not valid TOML or
            YAML (the message names the file, line and column), or it does not
            hold a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"plan file {str(path)!r} does not exist")
    if path.suffix not in (".toml", ".yaml", ".yml"):
        raise ValueError(f"plan file must end in .toml, .yaml or .yml, got {path.name!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"plan file {str(path)!r} is not UTF-8 text") from None
    if path.suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: invalid TOML: {err}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: invalid YAML{_yaml_where(err)}") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"plan file {str(path)!r} does not hold a mapping of settings "
            f"(name, recipe, tasks, ...), got {type(data).__name__}"
        )
    _resolve_dataset_paths(data, path.parent)
    return data


def _resolve_dataset_paths(data: dict[str, Any], folder: Path) -> None:
    """A relative dataset path in a plan file is relative to the file's folder: make it
    absolute where it names something there (registered names are left alone)."""
    from dassgnn.data import list_datasets

    tasks = data.get("tasks")
    if not isinstance(tasks, list):
        return
    names = set(list_datasets())
    for entry in tasks:
        if not isinstance(entry, dict):
            continue
        dataset = entry.get("dataset")
        if not isinstance(dataset, str) or dataset in names or not dataset:
            continue
        candidate = folder / Path(dataset).expanduser()
        if not Path(dataset).expanduser().is_absolute() and candidate.exists():
            entry["dataset"] = str(candidate.resolve())


def check_group_fields(group: Any) -> dict[str, Any]:
    """Checks every field of a [`TaskGroup`][dassgnn.collect.TaskGroup] (type and
    range) but the space's own settings and the architecture ids, which the
    space checks.

    Args:
        group (TaskGroup): The group, as constructed.

    Returns:
        dict[str, Any]: The normalised fields (tuples for lists, Python ints, an absolute
        path for a dataset given by its path).

    Raises:
        TypeError: If a field has the wrong type (the message says what to write).
        ValueError: If a value is out of range or the fields contradict each other.
    """
    from dassgnn.data import list_datasets
    from dassgnn.data.catalog import is_dataset_path
    from dassgnn.data.paths import check_layout

    g = group
    out: dict[str, Any] = {}
    if isinstance(g.dataset, str | os.PathLike) and is_dataset_path(g.dataset):
        check_layout(g.dataset)  # neither layout: a ValueError saying what was found
        out["dataset"] = os.path.abspath(os.path.expanduser(os.fspath(g.dataset)))
    elif not isinstance(g.dataset, str) or g.dataset not in list_datasets():
        raise ValueError(
            f"unknown dataset {g.dataset!r} in the plan; valid: {', '.join(list_datasets())}; "
            "or the path of an .npz file, an image folder or a folder with train/ and test/ "
            f"(no file or folder {str(g.dataset)!r} exists)"
        )
    for name, low in (("num_classes", 2), ("train_per_class", 1), ("test_per_class", 1)):
        if getattr(g, name) is not None:
            out[name] = check_int(getattr(g, name), name, minimum=low)
    out["num_tasks"] = check_int(g.num_tasks, "num_tasks", minimum=1)
    out["image_size"] = check_int(g.image_size, "image_size", minimum=1)
    out["channels"] = check_int(g.channels, "channels", minimum=1, maximum=3)
    if out["channels"] == 2:
        raise ValueError("channels must be 1 or 3, got 2")
    out["students"] = check_int(g.students, "students", minimum=0)
    for name in ("seed", "student_seed", "teacher_seed"):
        out[name] = check_seed(getattr(g, name), name)
    out["same_students"] = check_bool(g.same_students, "same_students")
    out["kd_seeds"] = _check_seeds(g.kd_seeds, "kd_seeds")
    out["scratch_seeds"] = _check_seeds(g.scratch_seeds, "scratch_seeds")
    if g.role is not None and (not isinstance(g.role, str) or not g.role):
        raise TypeError(f"role must be a non-empty string, got {g.role!r}")
    if g.classes is not None:
        out["classes"] = _check_classes(g.classes, out.get("num_classes"), out["num_tasks"])
    elif g.num_classes is None and out["num_tasks"] != 1:
        raise ValueError(
            f"num_tasks={out['num_tasks']} needs num_classes (the classes of each task); "
            "without it a group is one task of all the dataset's classes"
        )
    if isinstance(g.archs, str) or not isinstance(g.archs, (list, tuple)):
        raise TypeError(
            f"archs must be a list of architecture ids, got {type(g.archs).__name__} "
            f"{g.archs!r}; write archs = [{g.archs!r}]"
        )
    if not all(isinstance(a, str) for a in g.archs):
        raise TypeError(f"archs must hold architecture ids (strings), got {list(g.archs)}")
    out["archs"] = tuple(g.archs)
    if not out["students"] and not out["archs"] and (out["kd_seeds"] or out["scratch_seeds"]):
        raise ValueError("students = 0 and no archs: the group has no student to run")
    if not isinstance(g.space, Mapping):
        raise TypeError(
            "space must be a table of search-space settings, e.g. "
            f"{{widths = [8, 16], depths = [2, 2]}}, got {type(g.space).__name__} {g.space!r}"
        )
    out["space"] = {"name": "resnet", **g.space}
    if g.teacher_recipe is not None:
        out["teacher_recipe"] = _check_teacher_recipe(g.teacher_recipe)
    return out


def _check_teacher_recipe(value: Any) -> dict[str, Any]:
    from dassgnn.kd import Recipe

    if not isinstance(value, Mapping):
        raise TypeError(
            "teacher_recipe of a task group must be a table of recipe settings, e.g. "
            f"{{epochs = 2, min_steps = 40}}, got {type(value).__name__} {value!r}"
        )
    message = unknown_keys(value, recipe_fields(), "teacher_recipe", {})
    if message:
        raise ValueError(message)
    with reraise_in("teacher_recipe"):
        Recipe.from_dict(dict(value))
    return dict(value)


def _check_seeds(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        raise TypeError(
            f"{name} must be a list of seeds, got the int {value}; write {name} = [{value}]"
        )
    seeds = check_ints(value, name, minimum=0, maximum=MAX_SEED)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{name} has repeated seeds: {list(seeds)}")
    return seeds


def _check_classes(value: Any, num_classes: int | None, num_tasks: int) -> tuple[int, ...]:
    classes = check_ints(value, "classes", minimum=0, nonempty=True)
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"classes must hold at least 2 distinct ids, got {list(classes)}")
    if num_classes is not None and num_classes != len(classes):
        raise ValueError(
            f"num_classes={num_classes} but classes has {len(classes)} ids; give one of them"
        )
    if num_tasks != 1:
        raise ValueError(
            f"classes makes one task, but num_tasks={num_tasks}; to draw several tasks give "
            "num_classes and num_tasks instead"
        )
    return classes


def _yaml_where(err: Any) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{where}: {problem}" + (f" ({context})" if context else "")


def unknown_keys(
    given: Iterable[str], valid: Iterable[str], where: str, elsewhere: Mapping[str, str]
) -> str | None:
    """The message for keys that are not among ``valid``, or `None` if all are.

    Args:
        given (Iterable[str]): The keys found.
        valid (Iterable[str]): The keys allowed here.
        where (str): What holds them, e.g. ``"tasks[0]"``.
        elsewhere (Mapping[str, str]): Keys that belong in another place, with
            the hint to give, e.g. ``{"epochs": "put it under [recipe]"}``.

    Returns:
        str or None: The message, with a hint for each key where one is known.
    """
    valid = sorted(valid)
    bad = sorted(set(given) - set(valid))
    if not bad:
        return None
    hints = []
    for key in bad:
        if key in elsewhere:
            hints.append(f"{key!r}: {elsewhere[key]}")
        else:
            close = difflib.get_close_matches(key, valid, n=1)
            if close:
                hints.append(f"{key!r}: did you mean {close[0]!r}?")
    hint = f" ({'; '.join(hints)})" if hints else ""
    return f"{where} has unknown keys {bad}{hint}; valid: {', '.join(valid)}"


def group_entries(tasks: Any) -> list[Mapping[str, Any]]:
    """Checks that ``tasks`` is a non-empty list of task-group mappings.

    Args:
        tasks (Any): The plan's ``tasks`` value.

    Returns:
        list[Mapping[str, Any]]: The entries.

    Raises:
        ValueError: If it is empty, or a single table (``[tasks]`` written for
            ``[[tasks]]``).
        TypeError: If it is not a list of mappings.
    """
    if isinstance(tasks, Mapping):
        raise ValueError(
            "'tasks' is a single table, but a plan holds a list of task groups: in TOML "
            "write each group under [[tasks]] (two brackets), not [tasks]; in YAML write "
            "'tasks:' followed by items '- dataset: ...'"
        )
    if not tasks:
        raise ValueError(
            "a plan needs at least one entry under 'tasks' ([[tasks]] in TOML, "
            "'tasks:' with '- dataset: ...' items in YAML)"
        )
    if isinstance(tasks, (str, bytes)) or not isinstance(tasks, (list, tuple)):
        raise TypeError(f"'tasks' must be a list of task groups, got {type(tasks).__name__}")
    for i, entry in enumerate(tasks):
        if not isinstance(entry, Mapping):
            raise TypeError(
                f"tasks[{i}] must be a table of task-group settings (dataset, students, ...), "
                f"got {type(entry).__name__} {entry!r}"
            )
    return list(tasks)


def recipe_fields() -> tuple[str, ...]:
    """The field names of [`Recipe`][dassgnn.kd.Recipe]."""
    from dassgnn.kd import Recipe

    return tuple(f.name for f in dataclasses.fields(Recipe))


def _message(err: BaseException) -> str:
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


def reraise(err: BaseException, prefix: str) -> NoReturn:
    """Raises ``err`` again with ``prefix`` before its message, keeping its type
    where the type takes a message (else as `ValueError`), without the chain."""
    text = f"{prefix}: {_message(err)}"
    try:
        new = type(err)(text)
    except Exception:
        new = ValueError(text)
    raise new from None


@contextlib.contextmanager
def reraise_in(prefix: str) -> Iterator[None]:
    """Prefixes the message of a `ValueError`, `TypeError`, `KeyError`,
    `FileNotFoundError` or `ImportError` raised in the block with ``prefix``."""
    try:
        yield
    except (ValueError, TypeError, KeyError, FileNotFoundError, ImportError) as err:
        reraise(err, prefix)
