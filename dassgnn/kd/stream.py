"""The batches of a training run, shared by the per-student and the batched trainers."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, TypeVar

import torch
from torch import Tensor, nn

from dassgnn.kd.augment import channel_stats, normalize, random_crop, random_hflip
from dassgnn.kd.recipe import Recipe

M = TypeVar("M", bound=nn.Module)


def to_channels_last(model: M, device: torch.device) -> M:
    """Moves ``model`` to ``device`` in channels-last memory format (1.3-1.6x
    faster convolutions on CPU, the same arithmetic) and returns it."""
    return model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]


class Batch(NamedTuple):
    """One training step's data.

    Attributes:
        epoch (int): 0-based epoch. step (int): 0-based step within the epoch.
        raw (Tensor): The augmented uint8 images $(B, C, H, W)$.
        inputs (Tensor): ``raw`` standardised, float $(B, C, H, W)$.
        targets (Tensor): Labels $(B,)$.
    """

    epoch: int
    step: int
    raw: Tensor
    inputs: Tensor
    targets: Tensor


def split_tensors(split: Any, name: str, device: torch.device) -> tuple[Tensor, Tensor]:
    """Images (uint8, N×C×H×W) and labels of an ImageDataset or an ``(x, y)`` pair, validated."""
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


class BatchStream:
    """The data side of a training run: tensors on the device, the standardisation
    statistics of the training set, and the seeded order and augmentation of
    every step. Two streams with the same data, recipe and seed yield identical
    batches, whatever is trained on them.

    Args:
        train_data: An ImageDataset or ``(images, labels)`` pair.
        test_data: The same for the test set.
        recipe (Recipe): Batch size, epochs, augmentation, standardisation.
        seed (int): Seeds the order and augmentation (a private generator).
        device (torch.device): Where the tensors live.
    """

    def __init__(
        self, train_data: Any, test_data: Any, recipe: Recipe, seed: int, device: torch.device
    ) -> None:
        self.recipe = recipe
        self.device = device
        self.x_train, self.y_train = split_tensors(train_data, "train_data", device)
        self.x_test, self.y_test = split_tensors(test_data, "test_data", device)
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"train images {tuple(self.x_train.shape[1:])} and test images "
                f"{tuple(self.x_test.shape[1:])} differ in shape"
            )
        if recipe.normalize:
            self.mean, self.std = channel_stats(self.x_train)
        else:
            self.mean = torch.zeros(self.x_train.shape[1], device=device)
            self.std = torch.ones(self.x_train.shape[1], device=device)
        n = self.num_train
        # a last batch of one image would break BatchNorm: it is dropped
        self.steps_per_epoch = max(1, n // recipe.batch_size + (n % recipe.batch_size > 1))
        #: Epochs of the run, ``recipe.min_steps`` applied.
        self.epochs = recipe.epochs_for(self.steps_per_epoch)
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def num_train(self) -> int:
        """Training images."""
        return self.x_train.shape[0]

    def check_labels(self, num_classes: int) -> None:
        """Raises a ValueError if a label does not fit ``num_classes`` outputs."""
        high = int(max(self.y_train.max(), self.y_test.max()))
        if int(min(self.y_train.min(), self.y_test.min())) < 0 or high >= num_classes:
            raise ValueError(f"labels must lie in [0, {num_classes}) for this model, found {high}")

    def epoch(self, epoch: int) -> Iterator[Batch]:
        """The batches of one epoch; call once per epoch, in order."""
        r = self.recipe
        order = torch.randperm(self.num_train, generator=self.generator).to(self.device)
        for step in range(self.steps_per_epoch):
            idx = order[step * r.batch_size : (step + 1) * r.batch_size]
            raw = random_crop(self.x_train[idx], r.crop_padding, self.generator)
            if r.hflip:
                raw = random_hflip(raw, self.generator)
            yield Batch(epoch, step, raw, self.prepare(raw), self.y_train[idx])

    def test_batches(self, batch_size: int = 1024) -> Iterator[tuple[Tensor, Tensor]]:
        """Standardised test images and labels, in order."""
        for i in range(0, self.x_test.shape[0], batch_size):
            yield self.prepare(self.x_test[i : i + batch_size]), self.y_test[i : i + batch_size]

    def prepare(self, raw: Tensor) -> Tensor:
        """uint8 images to standardised float in channels-last memory layout (the
        same numbers; oneDNN and cuDNN convolutions run faster on it)."""
        return normalize(raw, self.mean, self.std).contiguous(memory_format=torch.channels_last)


def lr_factor(recipe: Recipe, steps_per_epoch: int) -> Callable[[int], float]:
    """The learning-rate multiplier of each step: linear warm-up, then cosine or constant."""
    total = recipe.epochs_for(steps_per_epoch) * steps_per_epoch
    warmup = int(recipe.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if recipe.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def make_optimizer(
    params: Iterable[Tensor], recipe: Recipe, steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with the recipe's momentum, Nesterov and weight decay, and its per-step schedule."""
    optimizer = torch.optim.SGD(
        params,
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(recipe, steps_per_epoch))
    return optimizer, scheduler
