"""Collection plans: tasks × sampled students × modes × seeds, read from TOML or YAML."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dassgnn.collect.plan_checks import (
    PLAN_KEYS,
    check_group_fields,
    group_entries,
    read_plan_file,
    recipe_fields,
    reraise_in,
    unknown_keys,
)
from dassgnn.data import Task, load_dataset
from dassgnn.data.catalog import is_dataset_path
from dassgnn.data.paths import load_path, num_classes_at
from dassgnn.kd import Recipe
from dassgnn.records import RunKey
from dassgnn.space import Arch, space_from_dict, space_key


@dataclass(frozen=True)
class TeacherJob:
    """Training one task's teacher from scratch.

    Attributes:
        task (Task): The task.
        space_json (str): The search space's settings (canonical JSON of
            ``to_dict()``); the teacher is its largest member.
        recipe (Recipe): How the teacher is trained.
        seed (int): Seeds its initial weights and batches.
        role (str): ``"meta-train"``, ``"meta-test"`` or another label.
    """

    task: Task
    space_json: str
    recipe: Recipe
    seed: int = 0
    role: str | None = field(default=None, compare=False)

    @classmethod
    def make(
        cls,
        task: Task,
        space: Mapping[str, Any],
        recipe: Recipe,
        seed: int = 0,
        role: str | None = None,
    ) -> TeacherJob:
        """A job from a space's settings dict."""
        return cls(task, json.dumps(dict(space), sort_keys=True), recipe, seed, role)

    @property
    def space(self) -> dict[str, Any]:
        """The search space's settings."""
        return json.loads(self.space_json)

    @property
    def teacher_id(self) -> str:
        """The record store's id: task key, space key, recipe key and seed."""
        return f"{self.task.key}/{space_key(self.space)}/{self.recipe.key}/s{self.seed}"


@dataclass(frozen=True)
class StudentJob:
    """One student run: KD from the task's teacher, or from scratch.

    Attributes:
        teacher (TeacherJob): The task's teacher (for scratch runs too: it names the task).
        arch (Arch): The student.
        mode (str): ``"kd"`` or ``"scratch"``.
        seed (int): Seeds the batches (and random initial weights).
        recipe (Recipe): How the student is trained.
    """

    teacher: TeacherJob
    arch: Arch
    mode: str
    seed: int
    recipe: Recipe

    @property
    def key(self) -> RunKey:
        """The record store's unique key of this run."""
        teacher_id = self.teacher.teacher_id if self.mode == "kd" else ""
        return RunKey(
            self.teacher.task.key,
            teacher_id,
            self.arch.id,
            self.mode,
            self.seed,
            self.recipe.key,
            space_key(self.teacher.space),
        )


@dataclass(frozen=True)
class TaskGroup:
    """One entry of a plan: tasks drawn from one dataset and what to run on each.

    Args:
        dataset (str): A registered dataset name, or the path of an ``.npz`` file, an image
            folder or a folder with ``train/`` and ``test/`` (relative to the plan file's
            folder when the plan is read from a file; see `dassgnn.data.paths`). The tasks
            carry the path to the workers, and their keys depend on the data's content, not
            on where it lies.
        num_classes (int, optional): Classes per task; `None` takes all. (default: `None`)
        num_tasks (int, optional): Tasks drawn from the dataset, each with its own
            random class set (sets of different tasks may overlap). (default: `1`)
        classes (list[int], optional): Explicit source classes (one task). (default: `None`)
        seed (int, optional): Seeds the class split and the per-class subsampling.
            (default: `0`)
        train_per_class (int, optional): Train images kept per class; `None` keeps
            all. (default: `None`)
        test_per_class (int, optional): Test images kept per class; `None` keeps
            all. (default: `None`)
        image_size (int, optional): Working height and width. (default: `32`)
        channels (int, optional): Working channels, 1 or 3. (default: `3`)
        role (str, optional): Label stored with the tasks (``"meta-train"``, ...).
            (default: `None`)
        space (dict, optional): Search-space settings, e.g.
            ``{"name": "resnet", "widths": [8, 16, 32]}``. (default: the default ResNet space)
        students (int, optional): Students sampled from the space per task. (default: `30`)
        student_seed (int, optional): Seed of the student sampler. (default: `0`)
        same_students (bool, optional): Run the same sampled students on every task of
            the group; otherwise task $i$ samples with ``student_seed + i``, so the
            group covers more architectures. (default: `False`)
        archs (list[str], optional): Extra explicit architecture ids, run on every task.
            (default: `()`)
        kd_seeds (list[int], optional): Seeds of the KD runs. (default: `(0,)`)
        scratch_seeds (list[int], optional): Seeds of the runs from scratch. (default: `()`)
        teacher_seed (int, optional): Seed of the teacher. (default: `0`)
        teacher_recipe (dict, optional): Settings of the plan's teacher recipe that this
            group's teachers change, e.g. ``{epochs = 2, min_steps = 40}`` for a
            deliberately weak teacher. (default: `None`, the plan's teacher recipe)
    """

    dataset: str
    num_classes: int | None = None
    num_tasks: int = 1
    classes: tuple[int, ...] | None = None
    seed: int = 0
    train_per_class: int | None = None
    test_per_class: int | None = None
    image_size: int = 32
    channels: int = 3
    role: str | None = None
    space: Mapping[str, Any] = field(default_factory=lambda: {"name": "resnet"})
    students: int = 30
    student_seed: int = 0
    same_students: bool = False
    archs: tuple[str, ...] = ()
    kd_seeds: tuple[int, ...] = (0,)
    scratch_seeds: tuple[int, ...] = ()
    teacher_seed: int = 0
    teacher_recipe: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for name, value in check_group_fields(self).items():
            object.__setattr__(self, name, value)
        # every setting spelt out, so that the space's key does not depend on defaults
        object.__setattr__(self, "space", space_from_dict(dict(self.space)).to_dict())
        for arch_id in self.archs:
            self.build_space().parse(arch_id)

    def teacher_recipe_of(self, base: Recipe) -> Recipe:
        """The recipe of the group's teachers: ``base`` (the plan's) with the group's changes."""
        return base.replace(**self.teacher_recipe) if self.teacher_recipe else base

    def build_space(self):
        """The group's search space."""
        return space_from_dict(dict(self.space))

    def tasks(self) -> list[Task]:
        """The group's tasks, deterministic from its seed."""
        fields: dict[str, Any] = {
            "image_size": self.image_size,
            "channels": self.channels,
            "train_per_class": self.train_per_class,
            "test_per_class": self.test_per_class,
        }
        if self.classes is not None:
            return [Task(self.dataset, self.classes, seed=self.seed, **fields)]
        if self.num_classes is None:
            total = (
                num_classes_at(self.dataset)
                if is_dataset_path(self.dataset)
                else load_dataset(self.dataset).num_classes
            )
            classes = tuple(range(total))
            return [Task(self.dataset, classes, seed=self.seed, **fields)]
        if self.num_tasks == 1:
            return [Task.sample(self.dataset, self.num_classes, seed=self.seed, **fields)]
        return Task.split_classes(
            self.dataset, self.num_classes, self.num_tasks, seed=self.seed, disjoint=False, **fields
        )

    def students_of(self, index: int = 0) -> list[Arch]:
        """The students of the group's task ``index``: sampled ones, then the explicit
        ones (deduplicated)."""
        space = self.build_space()
        seed = self.student_seed + (0 if self.same_students else index)
        archs = space.sample(self.students, seed=seed)
        extra = [space.canonical(space.parse(a)) for a in self.archs]
        return list(dict.fromkeys([*archs, *extra]))


@dataclass(frozen=True)
class Plan:
    """What a collection runs: task groups, one student recipe, one teacher recipe.

    Args:
        groups (list[TaskGroup]): The task groups.
        recipe (Recipe): The recipe of every student run (KD and scratch).
        teacher_recipe (Recipe): The recipe of every teacher.
        name (str): A label. store (str, optional): Default record-store path.
        source (str, optional): The file the plan was read from (named in the messages of
            `check()`).
    """

    groups: tuple[TaskGroup, ...]
    recipe: Recipe = field(default_factory=Recipe)
    teacher_recipe: Recipe = field(default_factory=lambda: Recipe(epochs=40, lr=0.1))
    name: str = "plan"
    store: str | None = None
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.groups or not all(isinstance(g, TaskGroup) for g in self.groups):
            raise TypeError(
                f"groups must be a non-empty sequence of TaskGroup, got {self.groups!r}"
            )
        object.__setattr__(self, "groups", tuple(self.groups))
        for name in ("recipe", "teacher_recipe"):
            if not isinstance(getattr(self, name), Recipe):
                raise TypeError(
                    f"{name} must be a Recipe, got {type(getattr(self, name)).__name__}"
                )
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty string, got {self.name!r}")
        if self.store is not None and (not isinstance(self.store, str) or not self.store):
            raise TypeError(f"store must be a path (a string), got {self.store!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Builds a plan from a parsed TOML/YAML mapping (keys as the fields,
        ``tasks`` for the groups), checking every value.

        Args:
            data (Mapping[str, Any]): ``name``, ``store``, ``recipe``,
                ``teacher_recipe`` and ``tasks`` (a list of task-group mappings).

        Returns:
            Plan: The plan.

        Raises:
            ValueError: For unknown keys (with the fix where a common slip is
                recognised), values out of range, or no task group.
            TypeError: For values of the wrong type.
            KeyError: For an unknown search space.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a plan must be a mapping, got {type(data).__name__}")
        data = dict(data)
        group_keys = [f.name for f in dataclasses.fields(TaskGroup)]
        recipe_keys = recipe_fields()
        elsewhere = {k: "task-group settings go in a [[tasks]] entry" for k in group_keys}
        elsewhere.update({k: "recipe settings go under [recipe]" for k in recipe_keys})
        elsewhere["task"] = "write [[tasks]] (plural)"
        message = unknown_keys(data, PLAN_KEYS, "the plan", elsewhere)
        if message:
            raise ValueError(message)
        entries = group_entries(data.get("tasks"))
        elsewhere = {
            k: "a recipe setting: put it under [recipe] (students) or [teacher_recipe]"
            for k in recipe_keys
        }
        parsed = []
        for i, entry in enumerate(entries):
            message = unknown_keys(entry, group_keys, f"tasks[{i}]", elsewhere)
            if message:
                raise ValueError(message)
            with reraise_in(f"tasks[{i}]"):
                parsed.append(TaskGroup(**entry))
        kwargs: dict[str, Any] = {"groups": tuple(parsed)}
        for key in ("recipe", "teacher_recipe"):
            if key in data:
                if not isinstance(data[key], Mapping):
                    raise TypeError(
                        f"{key} must be a table of recipe settings ([{key}] in TOML), got "
                        f"{type(data[key]).__name__} {data[key]!r}"
                    )
                with reraise_in(key):
                    kwargs[key] = Recipe.from_dict(dict(data[key]))
        for key in ("name", "store"):
            if key in data:
                kwargs[key] = data[key]
        return cls(**kwargs)

    @classmethod
    def from_file(cls, path: str | Path) -> Plan:
        """Reads a ``.toml``, ``.yaml`` or ``.yml`` plan.

        Args:
            path (str or Path): The file.

        Returns:
            Plan: The plan.

        Raises:
            FileNotFoundError: If there is no file.
            ValueError: If it is not valid TOML or YAML, or see `from_dict()`;
                every message names the file (and, for a syntax error, the line).
            TypeError: See `from_dict()`.
        """
        data = read_plan_file(path)
        with reraise_in(str(path)):
            return dataclasses.replace(cls.from_dict(data), source=str(path))

    def check(self) -> None:
        """Checks that the plan's data can be loaded, before anything trains:
        each dataset is present (its ``.npz`` under the data folder, the
        optional package of a shipped set, or the file or folder of a path), has the classes
        asked for, and
        holds ``train_per_class`` and ``test_per_class`` images of every class
        of every task.

        Raises:
            FileNotFoundError: If a dataset file or the data folder is missing.
            ImportError: If a shipped set's optional package is not installed.
            ValueError: If two groups make the same task with different teachers, the data
                folder is not set, or a task asks for more
                classes or images than the dataset has (the message names the plan
                file, if any, and the task group).
        """
        where = f"{self.source}: " if self.source else ""
        owners: dict[str, tuple[int, str]] = {}
        for i, group in enumerate(self.groups):
            with reraise_in(f"{where}tasks[{i}] ({group.dataset})"):
                if is_dataset_path(group.dataset):  # folders of mixed sizes are resized
                    source = load_path(group.dataset, size=group.image_size)
                else:
                    source = load_dataset(group.dataset)
                for task in group.tasks():
                    task.indices(source)
            for task in group.tasks():
                teacher = self._teacher_of(group, task).teacher_id
                j, other = owners.setdefault(task.key, (i, teacher))
                if other != teacher:
                    raise ValueError(
                        f"{where}tasks[{j}] and tasks[{i}] make the same task {task.key} with "
                        "different teachers; a task has one teacher (its labels are the KD "
                        "accuracies from it): give one of the groups another seed"
                    )

    def select(self, role: str | None = None, seeds: Sequence[int] | None = None) -> Plan:
        """A part of the plan: the task groups of one ``role`` and/or only the runs
        (KD and scratch) of some ``seeds``. Use it to run parts of a plan on
        different machines, e.g. the meta-training tasks on a GPU, or extra seeds.

        Args:
            role (str, optional): Keep the groups with this role.
            seeds (Sequence[int], optional): Keep the runs with these seeds.

        Raises:
            ValueError: If nothing of the plan is left.
        """
        groups = self.groups
        if role is not None:
            groups = tuple(g for g in groups if g.role == role)
            if not groups:
                roles = sorted({str(g.role) for g in self.groups})
                raise ValueError(f"no task group has role={role!r}; the plan's roles are {roles}")
        if seeds is not None:
            keep = set(seeds)
            groups = tuple(
                dataclasses.replace(
                    g,
                    kd_seeds=tuple(s for s in g.kd_seeds if s in keep),
                    scratch_seeds=tuple(s for s in g.scratch_seeds if s in keep),
                )
                for g in groups
            )
            if not any(g.kd_seeds or g.scratch_seeds for g in groups):
                raise ValueError(f"no run of the plan has a seed in seeds={sorted(keep)}")
        return dataclasses.replace(self, groups=groups)

    def teacher_jobs(self) -> list[TeacherJob]:
        """One teacher per task."""
        return list(dict.fromkeys(self._teacher_of(g, t) for g in self.groups for t in g.tasks()))

    def _teacher_of(self, group: TaskGroup, task: Task) -> TeacherJob:
        recipe = group.teacher_recipe_of(self.teacher_recipe)
        return TeacherJob.make(task, group.space, recipe, group.teacher_seed, group.role)

    def student_jobs(self) -> list[StudentJob]:
        """Every student run, ordered so that runs sharing a teacher and seed are adjacent."""
        jobs = []
        for group in self.groups:
            for index, task in enumerate(group.tasks()):
                archs = group.students_of(index)
                teacher = self._teacher_of(group, task)
                for mode, seeds in (("kd", group.kd_seeds), ("scratch", group.scratch_seeds)):
                    for seed in seeds:
                        jobs += [StudentJob(teacher, a, mode, seed, self.recipe) for a in archs]
        return list(dict.fromkeys(jobs))

    def __iter__(self) -> Iterator[StudentJob]:
        return iter(self.student_jobs())
