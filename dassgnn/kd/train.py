"""One training loop for teachers, students with KD and students from scratch."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from dassgnn.kd.augment import channel_stats, normalize, random_crop, random_hflip
from dassgnn.kd.loss import KDLoss
from dassgnn.kd.recipe import Recipe
from dassgnn.utils.scatter import scatter_mean


class TrainingDivergedError(RuntimeError):
    """The loss became NaN, infinite or larger than ``Recipe.max_loss``."""


class TeacherCache:
    """Memoises a teacher's logits on the training batches of KD runs.

    A run's batches depend only on the data, the recipe and the seed, never on
    the student, so students distilled with the same seed on the same task see
    identical batches and can share the teacher's forward passes. Each batch is
    fingerprinted (shape and pixel sum) and a mismatch raises, so a cache used
    with other data fails loudly instead of returning wrong logits.

    Args:
        teacher (nn.Module): The teacher; it is put in eval mode.
    """

    def __init__(self, teacher: nn.Module) -> None:
        self.teacher = teacher.eval()
        self._store: dict[Any, tuple[tuple, int, Tensor]] = {}
        self.hits = 0
        self.misses = 0

    @torch.no_grad()
    def logits(self, raw: Tensor, inputs: Tensor, key: Any) -> Tensor:
        """Teacher logits for ``inputs``; ``raw`` is the uint8 batch they come from."""
        fingerprint = (tuple(raw.shape), int(raw.sum(dtype=torch.int64)))
        entry = self._store.get(key)
        if entry is not None:
            if entry[:2] != fingerprint:
                raise ValueError(
                    f"TeacherCache: batch {key!r} differs from the cached one; use one cache "
                    "per (task, seed, recipe)"
                )
            self.hits += 1
            return entry[2]
        self.misses += 1
        out = self.teacher(inputs)
        self._store[key] = (*fingerprint, out)
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(batches={len(self._store)}, hits={self.hits})"


@dataclass
class TrainResult:
    """What a training run measured.

    Attributes:
        test_acc (float): Test accuracy after the last epoch, in :math:`[0, 1]`:
            the label predictors learn (no epoch is selected on the test set).
        best_test_acc (float): The best of the evaluated epochs (for analysis only).
        per_class_acc (list[float]): Final test accuracy of each class.
        train_loss (list[float]): Mean training loss of each epoch.
        train_acc (list[float]): Training accuracy of each epoch (on augmented batches).
        test_curve (list[tuple[int, float]]): ``(epoch, test accuracy)`` where evaluated.
        wall_time (float): Seconds, evaluation included.
        steps (int): Optimiser steps taken.
        device (str): Where it ran.
    """

    test_acc: float
    best_test_acc: float
    per_class_acc: list[float]
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_curve: list[tuple[int, float]] = field(default_factory=list)
    wall_time: float = 0.0
    steps: int = 0
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "test_acc": self.test_acc,
            "best_test_acc": self.best_test_acc,
            "per_class_acc": list(self.per_class_acc),
            "train_loss": list(self.train_loss),
            "train_acc": list(self.train_acc),
            "test_curve": [list(p) for p in self.test_curve],
            "wall_time": self.wall_time,
            "steps": self.steps,
            "device": self.device,
        }


def _split_tensors(split: Any, name: str, device: torch.device) -> tuple[Tensor, Tensor]:
    if hasattr(split, "tensors"):
        x, y = split.tensors()
    elif isinstance(split, (tuple, list)) and len(split) == 2:
        x, y = split
    else:
        raise TypeError(
            f"{name} must be an ImageDataset or an (images, labels) pair, "
            f"got {type(split).__name__}"
        )
    if not isinstance(x, Tensor) or x.dtype != torch.uint8 or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        dtype = x.dtype if isinstance(x, Tensor) else None
        raise TypeError(f"{name} images must be a uint8 tensor (N, C, H, W), got {shape} {dtype}")
    if not isinstance(y, Tensor) or y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{name} labels must be a 1-D tensor with one label per image")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return x.to(device), y.long().to(device)


def _schedule(recipe: Recipe, steps_per_epoch: int) -> Callable[[int], float]:
    total = recipe.epochs * steps_per_epoch
    warmup = int(recipe.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if recipe.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    mean: Tensor,
    std: Tensor,
    num_classes: int,
    batch_size: int = 1024,
) -> tuple[float, list[float]]:
    """Accuracy and per-class accuracy of ``model`` on uint8 images (eval mode)."""
    model.eval()
    correct = []
    for i in range(0, images.shape[0], batch_size):
        logits = model(normalize(images[i : i + batch_size], mean, std))
        correct.append((logits.argmax(1) == labels[i : i + batch_size]).float())
    hits = torch.cat(correct)
    per_class = scatter_mean(hits, labels, dim_size=num_classes)
    return float(hits.mean()), per_class.tolist()


def train(
    model: nn.Module,
    train_data: Any,
    test_data: Any,
    recipe: Recipe | None = None,
    *,
    teacher: nn.Module | TeacherCache | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
    desc: str | None = None,
) -> TrainResult:
    """Trains ``model`` in place, with knowledge distillation when a teacher is given.

    Without a teacher the loss is the cross-entropy; with one it is
    :class:`~dassgnn.kd.KDLoss` with the recipe's ``alpha`` and
    ``temperature``. Images stay on ``device`` as uint8 and are augmented and
    standardised there in batches, so no data-loader workers are needed. The
    ``seed`` fixes the batch order and augmentation (a private generator: the
    global random state is not used), so runs with the same seed see the same
    batches whatever the model.

    Args:
        model (nn.Module): The network to train.
        train_data: An :class:`~dassgnn.data.ImageDataset` or ``(images, labels)``
            tensors, images uint8 :math:`(N, C, H, W)`.
        test_data: The same for the test set.
        recipe (Recipe, optional): Hyper-parameters. (default: :class:`Recipe`\\ ())
        teacher (nn.Module or TeacherCache, optional): The teacher for KD.
        seed (int, optional): Seeds batch order and augmentation. (default: :obj:`0`)
        device (str or torch.device, optional): (default: :obj:`"cpu"`)
        progress (bool, optional): Show a ``tqdm`` bar over epochs. (default: :obj:`False`)
        desc (str, optional): Label of the progress bar.

    Returns:
        TrainResult: The final test accuracy, curves and wall time.

    Raises:
        TrainingDivergedError: If the loss is not finite or exceeds ``recipe.max_loss``.
        ValueError: If the labels do not fit the model's outputs.
    """
    recipe = recipe or Recipe()
    device = torch.device(device)
    start = time.perf_counter()
    x_train, y_train = _split_tensors(train_data, "train_data", device)
    x_test, y_test = _split_tensors(test_data, "test_data", device)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"train images {tuple(x_train.shape[1:])} and test images "
            f"{tuple(x_test.shape[1:])} differ in shape"
        )
    model.to(device)
    with torch.no_grad():
        num_classes = model(torch.zeros(2, *x_train.shape[1:], device=device)).shape[1]
    high = int(max(y_train.max(), y_test.max()))
    if int(min(y_train.min(), y_test.min())) < 0 or high >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}) for this model, found {high}")
    if recipe.normalize:
        mean, std = channel_stats(x_train)
    else:
        mean = torch.zeros(x_train.shape[1], device=device)
        std = torch.ones(x_train.shape[1], device=device)
    cache = teacher if isinstance(teacher, TeacherCache) else None
    if teacher is not None and cache is None:
        teacher = teacher.to(device).eval()
    if cache is not None:
        cache.teacher.to(device)
    criterion = KDLoss(
        recipe.alpha if teacher is not None else 1.0, recipe.temperature, recipe.label_smoothing
    )
    n = x_train.shape[0]
    steps_per_epoch = max(1, n // recipe.batch_size + (n % recipe.batch_size > 1))
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(recipe, steps_per_epoch))
    generator = torch.Generator().manual_seed(seed)
    autocast = recipe.amp and device.type == "cuda"
    result = TrainResult(0.0, 0.0, [], device=str(device))
    bar = tqdm(range(recipe.epochs), desc=desc or "train", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        for step in range(steps_per_epoch):
            idx = order[step * recipe.batch_size : (step + 1) * recipe.batch_size]
            raw = random_crop(x_train[idx], recipe.crop_padding, generator)
            if recipe.hflip:
                raw = random_hflip(raw, generator)
            inputs = normalize(raw, mean, std)
            targets = y_train[idx]
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                t_logits = None
                if cache is not None:
                    t_logits = cache.logits(raw, inputs, (epoch, step))
                elif teacher is not None:
                    with torch.no_grad():
                        t_logits = teacher(inputs)
                logits = model(inputs)
                loss = criterion(logits.float(), targets, t_logits)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            result.steps += 1
            loss_sum += loss.detach() * idx.numel()
            correct += (logits.detach().argmax(1) == targets).sum()
            if device.type == "cpu":
                _check_loss(float(loss.detach()), recipe, epoch, step)
        epoch_loss = float(loss_sum) / n
        _check_loss(epoch_loss, recipe, epoch, steps_per_epoch - 1)
        result.train_loss.append(epoch_loss)
        result.train_acc.append(float(correct) / n)
        last = epoch == recipe.epochs - 1
        if last or (recipe.eval_every and (epoch + 1) % recipe.eval_every == 0):
            acc, per_class = evaluate(model, x_test, y_test, mean, std, num_classes)
            result.test_curve.append((epoch + 1, acc))
            result.test_acc, result.per_class_acc = acc, per_class
            bar.set_postfix(loss=f"{epoch_loss:.3f}", test_acc=f"{acc:.3f}")
    result.best_test_acc = max(acc for _, acc in result.test_curve)
    result.wall_time = time.perf_counter() - start
    return result


def _check_loss(value: float, recipe: Recipe, epoch: int, step: int) -> None:
    if not math.isfinite(value) or value > recipe.max_loss:
        raise TrainingDivergedError(
            f"loss diverged to {value} at epoch {epoch + 1}, step {step + 1} "
            f"(lr={recipe.lr}, max_loss={recipe.max_loss}); lower the learning rate"
        )
