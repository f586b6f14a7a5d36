"""The steps of a search before any scoring: the data for the teacher, the ranking method,
the teacher's space and network, and the budget."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any

import torch
from torch import nn

from dassgnn.data import DATASETS, DatasetSplits, Task, is_dataset_path, load_dataset
from dassgnn.data.catalog import unknown_dataset
from dassgnn.data.paths import load_path, num_classes_at
from dassgnn.ranking import NotFittedError, RankingMethod
from dassgnn.search.result import Candidate
from dassgnn.search.teacher import load_teacher, space_for_teacher, teacher_shape
from dassgnn.space import Arch, SearchSpace
from dassgnn.utils.validation import plural

SIZES = (16, 24, 32)
"""Image sizes tried, beside the data's own, when a dataset given by name or path comes
without ``image_size`` (see [`infer_image_size`][dassgnn.search.setup.infer_image_size])."""


def infer_image_size(
    data: str | os.PathLike[str], classes: int, channels: int, teacher: nn.Module
) -> tuple[int, dict[int, float], DatasetSplits]:
    """The image size a teacher was trained at, for a dataset given by name or path: the
    size among its own and [`SIZES`][dassgnn.search.setup.SIZES] at which the teacher's test
    accuracy is highest (ties: the data's own size, then the larger).

    Returns:
        tuple[int, dict[int, float], DatasetSplits]: The size, the teacher's accuracy at each
        size tried, and the data loaded at the size chosen (only that size's splits are kept).
    """
    from dassgnn.predictor import teacher_accuracy

    shape: Any = (
        load_path(data) if is_dataset_path(data) else load_dataset(os.fspath(data))
    ).image_size
    own = shape[0] if isinstance(shape, tuple) and shape[0] == shape[1] else shape
    sizes = set(SIZES) | ({own} if isinstance(own, int) else set())
    accuracy: dict[int, float] = {}
    best: tuple[tuple[float, bool, int], DatasetSplits] | None = None
    for size in sorted(sizes):
        task = Task(os.fspath(data), tuple(range(classes)), image_size=size, channels=channels)
        splits = task.load()
        accuracy[size] = teacher_accuracy(teacher, splits)
        rank = (round(accuracy[size], 4), size == own, size)
        if best is None or rank > best[0]:
            best = (rank, splits)
    assert best is not None
    return best[0][2], accuracy, best[1]


def load_data(
    data: Any,
    channels: int,
    num_classes: int,
    image_size: int | None,
    teacher: nn.Module | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The teacher's data as loaded splits, and a note of the image size chosen when a
    dataset given by name or path comes without ``image_size`` (inferred from the teacher's
    accuracy where a teacher is given, else 32).

    Raises:
        ValueError: If the classes or channels differ from the teacher's.
    """
    note: dict[str, Any] = {}
    if isinstance(data, DatasetSplits):
        out = data
    elif isinstance(data, Task):
        out = data.load()
    elif isinstance(data, str | os.PathLike):
        if is_dataset_path(data):
            total = num_classes_at(data)
        elif data in DATASETS:
            total = load_dataset(data).num_classes
        else:
            raise unknown_dataset(data)
        if total != num_classes:
            raise ValueError(
                f"the dataset {str(data)!r} has {plural(total, 'class')} but the teacher's head "
                f"has {num_classes} outputs: give the data the teacher was trained on"
            )
        if image_size is None and teacher is not None:
            size, by_size, out = infer_image_size(data, total, channels, teacher)
            note = {"inferred": size, "teacher_accuracy_by_size": by_size}
        else:
            size = 32 if image_size is None else image_size
            task = Task(os.fspath(data), tuple(range(total)), image_size=size, channels=channels)
            out = task.load()
    else:
        raise TypeError(
            "data must be a DatasetSplits, a Task, a registered dataset name or a path, got "
            f"{type(data).__name__}"
        )
    if out.num_classes != num_classes:
        raise ValueError(
            f"the dataset has {plural(out.num_classes, 'class')} but the teacher's head has "
            f"{num_classes} outputs: give the data the teacher was trained on"
        )
    if out.channels != channels:
        raise ValueError(
            f"the dataset's images have {out.channels} channels but the teacher takes {channels}"
        )
    return out, note


def ready_method(method: str | RankingMethod) -> RankingMethod:
    if isinstance(method, RankingMethod):
        out = method
    elif isinstance(method, str):
        from dassgnn.predictor import default_checkpoint_path, load_ranker

        if method == "dass" and not default_checkpoint_path().is_file():
            raise FileNotFoundError(
                f"no predictor checkpoint at {str(default_checkpoint_path())!r}: set "
                "DASSGNN_PREDICTOR to one (dassgnn meta-train writes it) or pass a fitted "
                "RankingMethod as method="
            )
        out = load_ranker(method)
    else:
        raise TypeError(f"method must be a name or a RankingMethod, got {type(method).__name__}")
    if not out.is_fitted:
        if out.needs_fit:
            raise NotFittedError(
                f"method {out.name!r} learns from records: pass a fitted (or loaded) instance"
            )
        out.fit(None)
    return out


def _smallest(space: SearchSpace, k: int, c: int, size: Any, pool: list[Arch]) -> Arch:
    options = list(pool)
    with contextlib.suppress(NotImplementedError):  # a space need not know its smallest member
        options.append(space.smallest())
    return min(options, key=lambda a: (space.params(a, k, c), space.flops(a, k, c, size), a.id))


def space_size(space: SearchSpace) -> int:
    """The number of members of a space that can count them (else a very large number)."""
    size = getattr(space, "__len__", None)
    return int(size()) if callable(size) else 2**62


def _pixels(size: Any) -> str:
    h, w = (size, size) if isinstance(size, int) else size
    return f"{h}x{w}"


def _budget_text(max_params: int | None, max_flops: int | None) -> str:
    parts = [f"max_params={max_params:,}"] if max_params is not None else []
    parts += [f"max_flops={max_flops:,}"] if max_flops is not None else []
    return " and ".join(parts)


@dataclasses.dataclass
class Setup:
    """What the steps of a search share: the teacher's space and network, the data and
    its shape, the ranking method and the budget."""

    space: SearchSpace
    model: nn.Module
    data: Any
    k: int
    c: int
    size: Any
    ranker: RankingMethod
    max_params: int | None
    max_flops: int | None
    image_size_note: dict[str, Any] = dataclasses.field(default_factory=dict)

    def fits(self, a: Arch) -> bool:
        """Whether ``a`` is within the parameter and FLOP budgets."""
        return (
            self.max_params is None or self.space.params(a, self.k, self.c) <= self.max_params
        ) and (
            self.max_flops is None
            or self.space.flops(a, self.k, self.c, self.size) <= self.max_flops
        )

    def candidate(self, a: Arch, score: float) -> Candidate:
        """A scored candidate with its costs."""
        sp = self.space
        return Candidate(
            a, score, sp.params(a, self.k, self.c), sp.flops(a, self.k, self.c, self.size)
        )


def resolve(
    teacher: Any,
    data: Any,
    image_size: int | None,
    method: str | RankingMethod,
    device: torch.device,
    max_params: int | None,
    max_flops: int | None,
) -> Setup:
    """The teacher's space and network (from a module or a checkpoint), the data, the
    ranking method."""
    if isinstance(teacher, str | os.PathLike):
        teacher = load_teacher(teacher)
    space, model = space_for_teacher(teacher)
    c, k = teacher_shape(model)
    splits, note = load_data(data, c, k, image_size, model.to(device).eval())
    ranker = ready_method(method)
    return Setup(
        space,
        model.to(device).eval(),
        splits,
        splits.num_classes,
        c,
        splits.image_size,
        ranker,
        max_params,
        max_flops,
        note,
    )


def check_budget(setup: Setup, pool: list[Arch], seed: int) -> Arch:
    """The smallest student; raises a `ValueError` if even it does not meet the budget."""
    space, k, c, size = setup.space, setup.k, setup.c, setup.size
    smallest = _smallest(space, k, c, size, pool or space.sample(1, seed=seed))
    if not setup.fits(smallest):
        raise ValueError(
            f"no student meets the budget {_budget_text(setup.max_params, setup.max_flops)}: the "
            f"smallest student of the space, {smallest.id}, has "
            f"{space.params(smallest, k, c):,} parameters and "
            f"{space.flops(smallest, k, c, size):,} FLOPs at {_pixels(size)} pixels (the teacher "
            f"{space.params(space.teacher, k, c):,} and {space.flops(space.teacher, k, c, size):,})"
        )
    return smallest
