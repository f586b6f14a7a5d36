"""Class-split tasks: which classes of which dataset, at what size, how many images.

A [`Task`][dassgnn.data.Task] is a small, frozen, hashable and JSON-serialisable recipe. It
names a registered dataset, or the path of one (an ``.npz`` file or an image folder, see
`dassgnn.data.paths`), and the source class ids to keep (in order: the
``j``-th id becomes label ``j``). [`Task.load()`][dassgnn.data.Task.load] turns it into
[`DatasetSplits`][dassgnn.data.DatasetSplits]::

    task = Task.sample("cifar10", num_classes=5, seed=3, train_per_class=100)
    splits = task.load()              # 5 classes, 500 train images, 32x32x3
    tasks = Task.split_classes("omniglot_small1", num_classes=5, num_tasks=20, seed=0)

Every random choice uses `numpy.random.default_rng()` seeded from the
task's fields, so the same task gives the same images on every run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from dassgnn.data.catalog import DATASETS, is_dataset_path, load_dataset, unknown_dataset
from dassgnn.data.dataset import DatasetSplits, ImageDataset, validate_class_ids
from dassgnn.data.paths import (
    check_layout,
    dataset_id,
    is_dataset_id,
    load_path,
    num_classes_at,
)
from dassgnn.data.transforms import check_channels, check_size, prepare
from dassgnn.utils.validation import check_int, check_seed

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Task:
    """A class subset of a dataset, prepared to a fixed shape.

    The dataset is a registered name, or a path: ``Task("~/data/flowers", classes=...)``
    reads an ``.npz`` file, a folder of class sub-folders of images, or a folder with
    ``train/`` and ``test/`` folders (see [`load_path()`][dassgnn.data.load_path]). A path
    task's `dataset` becomes the data's [`dataset_id()`][dassgnn.data.dataset_id] (its name
    and content hash) and `path` the absolute path, which travels with the task to the worker
    processes of every executor; the task's `key` depends on the id only, so it is the same
    on every machine that holds the same data, and `load()` refuses data that changed.

    Args:
        dataset (str or PathLike): A registered dataset name (see
            [`list_datasets()`][dassgnn.data.list_datasets]), or the path of a dataset
            (a registered name wins over a file or folder of the same name: write
            ``./name``).
        classes (tuple[int, ...]): At least 2 distinct source class ids; the
            ``j``-th becomes label ``j``.
        image_size (int, optional): Output height and width. (default: `32`)
        channels (int, optional): Output channels, 1 or 3. (default: `3`)
        train_per_class (int, optional): Train images kept per class;
            `None` keeps all. (default: `None`)
        test_per_class (int, optional): Test images kept per class;
            `None` keeps all. (default: `None`)
        seed (int, optional): Seeds the per-class subsampling. (default: `0`)
        path (str, optional): Where the data of a path dataset lies; set from ``dataset``
            when that is a path, given with ``dataset`` as an id when a task is read back
            (from [`to_dict()`][dassgnn.data.Task.to_dict]). (default: `None`)

    Raises:
        KeyError: If ``dataset`` is neither registered nor an existing path (the message
            lists the names).
        FileNotFoundError, ValueError: If a path holds no dataset in a known layout.
        TypeError: If a field has the wrong type.
        ValueError: If ``classes`` has fewer than 2 or duplicated ids, or a
            number is out of range.
    """

    dataset: str
    classes: tuple[int, ...]
    image_size: int = 32
    channels: int = 3
    train_per_class: int | None = None
    test_per_class: int | None = None
    seed: int = 0
    path: str | None = None

    def __post_init__(self) -> None:
        self._resolve_dataset()
        if isinstance(self.classes, str | bytes):
            raise TypeError(f"classes must be a sequence of ints, got {self.classes!r}")
        ids = validate_class_ids(list(self.classes), None, param="classes")
        object.__setattr__(self, "classes", tuple(int(i) for i in ids))
        object.__setattr__(self, "image_size", check_size(self.image_size, "image_size"))
        object.__setattr__(self, "channels", check_channels(self.channels))
        for param in ("train_per_class", "test_per_class"):
            value = getattr(self, param)
            if value is not None:
                object.__setattr__(self, param, check_int(value, param, minimum=1))
        object.__setattr__(self, "seed", check_seed(self.seed))

    def _resolve_dataset(self) -> None:
        dataset, path = self.dataset, self.path
        if path is not None:
            if not isinstance(path, str | os.PathLike):
                raise TypeError(f"path must be a str or PathLike, got {type(path).__name__}")
            path = os.path.abspath(os.path.expanduser(os.fspath(path)))
            if isinstance(dataset, os.PathLike) or (
                isinstance(dataset, str) and not is_dataset_id(dataset)
            ):
                dataset = dataset_id(path)
        elif is_dataset_path(dataset):
            path = os.path.abspath(os.path.expanduser(os.fspath(dataset)))
            check_layout(path)
            dataset = dataset_id(path)
        if not isinstance(dataset, str):
            raise TypeError(f"dataset must be a str, got {type(dataset).__name__}")
        if path is None and dataset not in DATASETS:
            if is_dataset_id(dataset):
                raise ValueError(
                    f"dataset {dataset!r} is the id of a dataset read from a path: give "
                    "path= as well (Task.to_dict() holds it)"
                )
            raise unknown_dataset(dataset)
        object.__setattr__(self, "dataset", dataset)
        object.__setattr__(self, "path", path)

    # ---------------------------------------------------------------- identity

    @property
    def num_classes(self) -> int:
        """int: The number of classes ``k`` in the task."""
        return len(self.classes)

    @property
    def key(self) -> str:
        """str: A stable id, ``<dataset>-<k>way-<12 hex digits of sha1(canonical JSON)>``.

        The JSON is that of [`to_dict()`][dassgnn.data.Task.to_dict] without ``path``: a path
        dataset is keyed by its id (name and content hash), not by where it lies.
        """
        fields = {k: v for k, v in self.to_dict().items() if k != "path"}
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
        return f"{self.dataset}-{self.num_classes}way-{digest}"

    def to_dict(self) -> dict[str, Any]:
        """Returns the fields as plain JSON types (``classes`` as a list; ``path`` only for a
        path dataset).

        Returns:
            dict[str, Any]: The fields.
        """
        out = dataclasses.asdict(self)
        out["classes"] = list(self.classes)
        if out["path"] is None:
            del out["path"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        """Builds a task from `to_dict()` output.

        Args:
            data (dict[str, Any]): The fields.

        Returns:
            Task: The task.

        Raises:
            TypeError: If ``data`` is not a dict or ``data["classes"]`` not a list.
            ValueError: If keys are unknown or ``dataset``/``classes`` are missing.
        """
        if not isinstance(data, dict):
            raise TypeError(f"data must be a dict, got {type(data).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"data has unknown keys {unknown}; valid keys: {sorted(fields)}")
        missing = [k for k in ("dataset", "classes") if k not in data]
        if missing:
            raise ValueError(f"data lacks the keys {missing}")
        if not isinstance(data["classes"], list | tuple):
            raise TypeError(
                f"data['classes'] must be a list of ints, got {type(data['classes']).__name__}"
            )
        return cls(**{**data, "classes": tuple(data["classes"])})

    def to_json(self) -> str:
        """Returns canonical JSON (sorted keys, no spaces).

        Returns:
            str: The JSON text.
        """
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Task:
        """Builds a task from `to_json()` output.

        Args:
            text (str): The JSON text.

        Returns:
            Task: The task.

        Raises:
            ValueError: If ``text`` is not valid JSON or not a valid task.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"text is not valid JSON: {err}") from err
        return cls.from_dict(data)

    # -------------------------------------------------------------- construction

    @classmethod
    def sample(
        cls,
        dataset: str,
        num_classes: int,
        seed: int = 0,
        *,
        num_source_classes: int | None = None,
        root: PathLike | None = None,
        **kwargs: Any,
    ) -> Task:
        """Draws ``num_classes`` distinct classes of ``dataset`` at random.

        The ids are drawn with ``numpy.random.default_rng(seed)`` and sorted;
        ``seed`` also becomes the task's subsampling seed.

        Args:
            dataset (str): A registered dataset name, or the path of a dataset.
            num_classes (int): Classes in the task, at least 2.
            seed (int, optional): The random seed. (default: `0`)
            num_source_classes (int, optional): The dataset's class count; if
                `None` the dataset is loaded to find it.
            root (str or PathLike, optional): The data folder, used to load it.
            **kwargs: Other [`Task`][dassgnn.data.Task] fields (``image_size``, ``channels``,
                ``train_per_class``, ``test_per_class``).

        Returns:
            Task: The task.

        Raises:
            ValueError: If ``num_classes`` is below 2 or above the class count.
        """
        k = check_int(num_classes, "num_classes", minimum=2)
        seed = check_seed(seed)
        total = _source_classes(dataset, num_source_classes, root)
        (ids,) = _draw_class_sets(dataset, total, k, 1, np.random.default_rng(seed), True)
        return cls(dataset, ids, seed=seed, **kwargs)

    @classmethod
    def split_classes(
        cls,
        dataset: str,
        num_classes: int,
        num_tasks: int,
        seed: int = 0,
        *,
        disjoint: bool = True,
        num_source_classes: int | None = None,
        root: PathLike | None = None,
        **kwargs: Any,
    ) -> list[Task]:
        """Draws several tasks with distinct class sets, e.g. for meta-training.

        With ``disjoint=True`` the source classes are shuffled with
        ``default_rng(seed)`` and cut into ``num_tasks`` consecutive groups, so
        no class appears in two tasks (needs ``num_classes * num_tasks`` classes).
        With ``disjoint=False`` class sets are drawn independently and redrawn
        if they repeat an earlier set, so tasks may share some classes.
        Each task's ids are sorted; task ``i`` gets the subsampling seed
        ``numpy.random.SeedSequence([seed, i]).generate_state(1)[0]``.

        Args:
            dataset (str): A registered dataset name, or the path of a dataset.
            num_classes (int): Classes per task, at least 2.
            num_tasks (int): The number of tasks, at least 1.
            seed (int, optional): The random seed. (default: `0`)
            disjoint (bool, optional): Whether tasks may share no class.
                (default: `True`)
            num_source_classes (int, optional): The dataset's class count; if
                `None` the dataset is loaded to find it.
            root (str or PathLike, optional): The data folder, used to load it.
            **kwargs: Other [`Task`][dassgnn.data.Task] fields.

        Returns:
            list[Task]: ``num_tasks`` tasks.

        Raises:
            ValueError: If there are not enough classes for the request.
        """
        k = check_int(num_classes, "num_classes", minimum=2)
        n = check_int(num_tasks, "num_tasks", minimum=1)
        seed = check_seed(seed)
        total = _source_classes(dataset, num_source_classes, root)
        rng = np.random.default_rng(seed)
        sets = _draw_class_sets(dataset, total, k, n, rng, disjoint)
        return [cls(dataset, ids, seed=_task_seed(seed, i), **kwargs) for i, ids in enumerate(sets)]

    # ------------------------------------------------------------------- loading

    def indices(self, source: DatasetSplits) -> tuple[np.ndarray, np.ndarray]:
        """Chooses the source images of the task.

        For each class, ``train_per_class`` (``test_per_class``) images are drawn
        without replacement with ``default_rng([seed, split, class_id])``
        (``split`` 0 = train, 1 = test), so a class's images do not depend on the
        other classes in the task.

        Args:
            source (DatasetSplits): The loaded dataset.

        Returns:
            tuple[np.ndarray, np.ndarray]: Sorted positions into ``source.train``
            and ``source.test``.

        Raises:
            ValueError: If a class id is out of range or a class has fewer
                images than requested.
        """
        validate_class_ids(self.classes, source.num_classes, param="classes")
        out = []
        for split, (part, per_class) in enumerate(
            ((source.train, self.train_per_class), (source.test, self.test_per_class))
        ):
            chosen = []
            for cid in self.classes:
                idx = np.flatnonzero(part.labels == cid)
                if per_class is None:
                    chosen.append(idx)
                    continue
                if per_class > idx.size:
                    which = ("train", "test")[split]
                    raise ValueError(
                        f"{which}_per_class={per_class} but class {cid} "
                        f"({source.classes[cid]!r}) has only {idx.size} {which} images "
                        f"in {self.dataset!r}"
                    )
                rng = np.random.default_rng([self.seed, split, cid])
                chosen.append(rng.choice(idx, size=per_class, replace=False))
            out.append(np.sort(np.concatenate(chosen)))
        return out[0], out[1]

    def select(self, source: DatasetSplits) -> DatasetSplits:
        """Applies the task to an already loaded dataset.

        Args:
            source (DatasetSplits): The dataset named by `dataset`.

        Returns:
            DatasetSplits: The task's images, labelled ``0..k-1`` in the order
            of `classes`, resized and converted to `image_size` and
            `channels`, named `key`.

        Raises:
            ValueError: See `indices()`.
        """
        if not isinstance(source, DatasetSplits):
            raise TypeError(f"source must be a DatasetSplits, got {type(source).__name__}")
        train_idx, test_idx = self.indices(source)
        key = self.key

        def part(ds: ImageDataset, idx: np.ndarray) -> ImageDataset:
            sub = ds.subset(idx).select_classes(self.classes)
            return ImageDataset(sub.images, sub.labels, sub.classes, key)

        splits = DatasetSplits(part(source.train, train_idx), part(source.test, test_idx))
        return prepare(splits, self.image_size, self.channels)

    def load(self, root: PathLike | None = None) -> DatasetSplits:
        """Loads the dataset and applies the task (see `select()`).

        Args:
            root (str or PathLike, optional): The data folder for file-backed datasets.

        Returns:
            DatasetSplits: The task's images.

        Raises:
            ValueError: See `indices()`; also if the data folder is not set, or the data at
                `path` changed since the task was made.
            FileNotFoundError: If a dataset file or folder is missing.
        """
        if self.path is not None:
            return self.select(load_path(self.path, size=self.image_size, expected_id=self.dataset))
        return self.select(load_dataset(self.dataset, root=root))


def _source_classes(dataset: str, num_source_classes: int | None, root: PathLike | None) -> int:
    path = is_dataset_path(dataset)
    if not path and dataset not in DATASETS:
        raise unknown_dataset(dataset)
    if num_source_classes is not None:
        return check_int(num_source_classes, "num_source_classes", minimum=2)
    return num_classes_at(dataset) if path else load_dataset(dataset, root=root).num_classes


def _draw_class_sets(
    dataset: str, total: int, k: int, n: int, rng: np.random.Generator, disjoint: bool
) -> list[tuple[int, ...]]:
    if k > total:
        raise ValueError(f"num_classes={k} exceeds the {total} classes of {dataset!r}")
    if disjoint:
        if k * n > total:
            raise ValueError(
                f"num_classes * num_tasks = {k} * {n} = {k * n} disjoint classes requested, "
                f"but {dataset!r} has {total}"
            )
        order = rng.permutation(total)
        return [tuple(sorted(order[i * k : (i + 1) * k].tolist())) for i in range(n)]
    if n > math.comb(total, k):
        raise ValueError(
            f"num_tasks={n} exceeds the {math.comb(total, k)} distinct {k}-class sets "
            f"of {dataset!r}"
        )
    sets: list[tuple[int, ...]] = []
    while len(sets) < n:
        ids = tuple(sorted(rng.choice(total, size=k, replace=False).tolist()))
        if ids not in sets:
            sets.append(ids)
    return sets


def _task_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
