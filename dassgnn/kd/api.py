"""Training a task's teacher, and its students with and without distillation."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dassgnn.kd.recipe import Recipe
from dassgnn.kd.train import TeacherCache, TrainResult, train
from dassgnn.space.arch import Arch
from dassgnn.space.base import SearchSpace
from dassgnn.space.remap import REMAP_STRATEGIES


def _shape(data: Any) -> tuple[int, int]:
    try:
        return data.train.num_classes, data.train.channels
    except AttributeError:
        raise TypeError(
            f"data must be a DatasetSplits (train and test ImageDataset), got {type(data).__name__}"
        ) from None


def train_teacher(
    space: SearchSpace,
    data: Any,
    recipe: Recipe | None = None,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> tuple[nn.Module, TrainResult]:
    """Trains the space's teacher (its largest member) from scratch with cross-entropy.

    Args:
        space (SearchSpace): The space whose `teacher` is trained.
        data (DatasetSplits): The task's train and test sets.
        recipe (Recipe, optional): (default: [`Recipe`][dassgnn.kd.Recipe]\\ ())
        seed (int, optional): Seeds the initial weights and the batches. (default: `0`)
        device (str or torch.device, optional): (default: `"cpu"`)
        progress (bool, optional): Show a progress bar. (default: `False`)

    Returns:
        tuple[nn.Module, TrainResult]: The trained teacher and its run.
    """
    num_classes, channels = _shape(data)
    model = space.build(space.teacher, num_classes, channels, seed=seed)
    result = train(
        model,
        data.train,
        data.test,
        recipe,
        seed=seed,
        device=device,
        progress=progress,
        desc="teacher",
    )
    return model, result


def distill(
    space: SearchSpace,
    arch: Arch,
    data: Any,
    teacher: nn.Module | TeacherCache,
    recipe: Recipe | None = None,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> tuple[nn.Module, TrainResult]:
    """Builds ``arch``, initialises it as ``recipe.init`` says (teacher weights
    remapped into it, or random) and trains it with KD from ``teacher``.

    Args:
        space (SearchSpace): The space of ``arch`` and of the teacher.
        arch (Arch): The student.
        data (DatasetSplits): The task's train and test sets.
        teacher (nn.Module or TeacherCache): The trained teacher, built by ``space``.
        recipe (Recipe, optional): (default: [`Recipe`][dassgnn.kd.Recipe]\\ ())
        seed (int, optional): Seeds the batches (and random initial weights). (default: `0`)
        device (str or torch.device, optional): (default: `"cpu"`)
        progress (bool, optional): Show a progress bar. (default: `False`)

    Returns:
        tuple[nn.Module, TrainResult]: The trained student and its run.
    """
    recipe = recipe or Recipe()
    model = init_student(space, arch, data, teacher, recipe.init, seed=seed)
    result = train(
        model,
        data.train,
        data.test,
        recipe,
        teacher=teacher,
        seed=seed,
        device=device,
        progress=progress,
        desc=f"kd {arch.id}",
    )
    return model, result


def train_scratch(
    space: SearchSpace,
    arch: Arch,
    data: Any,
    recipe: Recipe | None = None,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> tuple[nn.Module, TrainResult]:
    """Trains ``arch`` from random weights with cross-entropy alone (no teacher).

    Arguments as in [`distill()`][dassgnn.kd.distill], without the teacher; ``recipe.init`` is
    ignored.
    """
    num_classes, channels = _shape(data)
    model = space.build(arch, num_classes, channels, seed=seed)
    result = train(
        model,
        data.train,
        data.test,
        recipe,
        seed=seed,
        device=device,
        progress=progress,
        desc=f"scratch {arch.id}",
    )
    return model, result


def init_student(
    space: SearchSpace,
    arch: Arch,
    data: Any,
    teacher: nn.Module | TeacherCache | None,
    init: str = "copy_first",
    *,
    seed: int = 0,
) -> nn.Module:
    """Builds ``arch`` and initialises it: ``"random"`` or a remapping strategy
    from [`REMAP_STRATEGIES`][dassgnn.space.REMAP_STRATEGIES] applied to ``teacher``."""
    num_classes, channels = _shape(data)
    model = space.build(arch, num_classes, channels, seed=seed)
    if init == "random":
        return model
    if init not in REMAP_STRATEGIES:
        valid = ", ".join(["random", *REMAP_STRATEGIES.list()])
        raise ValueError(f"unknown init {init!r}; valid: {valid}")
    if teacher is None:
        raise ValueError(f"init={init!r} remaps the teacher's weights but no teacher was given")
    source = teacher.teacher if isinstance(teacher, TeacherCache) else teacher
    return space.remap(source, model.to(next(source.parameters()).device), init)
