"""One training loop for teachers, students with KD and students from scratch."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from dassgnn.kd.loss import KDLoss
from dassgnn.kd.recipe import Recipe
from dassgnn.kd.stream import BatchStream, make_optimizer, to_channels_last
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
        test_acc (float): Test accuracy after the last epoch, in $[0, 1]$:
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


@torch.no_grad()
def evaluate(model: nn.Module, stream: BatchStream, num_classes: int) -> tuple[float, list[float]]:
    """Accuracy and per-class accuracy of ``model`` (in eval mode) on the stream's test set."""
    model.eval()
    hits, labels = [], []
    for x, y in stream.test_batches():
        hits.append((model(x).argmax(1) == y).float())
        labels.append(y)
    hit = torch.cat(hits)
    per_class = scatter_mean(hit, torch.cat(labels), dim_size=num_classes)
    return float(hit.mean()), per_class.tolist()


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
    [`KDLoss`][dassgnn.kd.KDLoss] with the recipe's ``alpha`` and
    ``temperature``. Images stay on ``device`` as uint8 and are augmented and
    standardised there in batches, so no data-loader workers are needed. The
    ``seed`` fixes the batch order and augmentation (a private generator: the
    global random state is not used), so runs with the same seed see the same
    batches whatever the model.

    Args:
        model (nn.Module): The network to train.
        train_data: An [`ImageDataset`][dassgnn.data.ImageDataset] or ``(images, labels)``
            tensors, images uint8 $(N, C, H, W)$.
        test_data: The same for the test set.
        recipe (Recipe, optional): Hyper-parameters. (default: [`Recipe`][dassgnn.kd.Recipe]\\ ())
        teacher (nn.Module or TeacherCache, optional): The teacher for KD.
        seed (int, optional): Seeds batch order and augmentation. (default: `0`)
        device (str or torch.device, optional): (default: `"cpu"`)
        progress (bool, optional): Show a ``tqdm`` bar over epochs. (default: `False`)
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
    stream = BatchStream(train_data, test_data, recipe, seed, device)
    to_channels_last(model, device).eval()  # the probe must not touch BN stats
    with torch.no_grad():
        num_classes = model(torch.zeros(2, *stream.x_train.shape[1:], device=device)).shape[1]
    stream.check_labels(num_classes)
    cache = teacher if isinstance(teacher, TeacherCache) else None
    plain = teacher if isinstance(teacher, nn.Module) else None
    if plain is not None:
        plain = to_channels_last(plain, device).eval()
    if cache is not None:
        to_channels_last(cache.teacher, device)
    criterion = KDLoss(
        recipe.alpha if teacher is not None else 1.0, recipe.temperature, recipe.label_smoothing
    )
    optimizer, scheduler = make_optimizer(model.parameters(), recipe, stream.steps_per_epoch)
    autocast = recipe.amp and device.type == "cuda"
    result = TrainResult(0.0, 0.0, [], device=str(device))
    bar = tqdm(range(stream.epochs), desc=desc or "train", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        for batch in stream.epoch(epoch):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                t_logits = None
                if cache is not None:
                    t_logits = cache.logits(batch.raw, batch.inputs, (epoch, batch.step))
                elif plain is not None:
                    with torch.no_grad():
                        t_logits = plain(batch.inputs)
                logits = model(batch.inputs)
                loss = criterion(logits.float(), batch.targets, t_logits)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            result.steps += 1
            loss_sum += loss.detach() * batch.targets.numel()
            correct += (logits.detach().argmax(1) == batch.targets).sum()
            if device.type == "cpu":
                check_loss(float(loss.detach()), recipe, epoch, batch.step)
        epoch_loss = float(loss_sum) / stream.num_train
        check_loss(epoch_loss, recipe, epoch, stream.steps_per_epoch - 1)
        result.train_loss.append(epoch_loss)
        result.train_acc.append(float(correct) / stream.num_train)
        last = epoch == stream.epochs - 1
        if last or (recipe.eval_every and (epoch + 1) % recipe.eval_every == 0):
            acc, per_class = evaluate(model, stream, num_classes)
            result.test_curve.append((epoch + 1, acc))
            result.test_acc, result.per_class_acc = acc, per_class
            bar.set_postfix(loss=f"{epoch_loss:.3f}", test_acc=f"{acc:.3f}")
    result.best_test_acc = max(acc for _, acc in result.test_curve)
    result.wall_time = time.perf_counter() - start
    return result


def check_loss(value: float, recipe: Recipe, epoch: int, step: int) -> None:
    if not math.isfinite(value) or value > recipe.max_loss:
        raise TrainingDivergedError(
            f"loss diverged to {value} at epoch {epoch + 1}, step {step + 1} "
            f"(lr={recipe.lr}, max_loss={recipe.max_loss}); lower the learning rate"
        )
