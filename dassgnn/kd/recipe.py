"""Training recipes: every hyper-parameter of a training run, in one record."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

_SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class Recipe:
    r"""How a network is trained: optimiser, schedule, loss, augmentation.

    The defaults are SGD with Nesterov momentum and a cosine schedule, random
    crops (zero padding 4) and per-channel standardisation with the training
    set's statistics. A recipe is frozen, hashable and JSON-serialisable, so
    that records can say exactly how a run was made (:attr:`key`).

    Args:
        epochs (int, optional): Passes over the training set. (default: :obj:`10`)
        min_steps (int, optional): At least this many optimiser steps: small
            training sets get as many more epochs as that takes, so that one
            recipe trains comparably on tasks of different sizes. (default: :obj:`0`)
        batch_size (int, optional): Images per step. (default: :obj:`128`)
        lr (float, optional): Peak learning rate. (default: :obj:`0.05`)
        momentum (float, optional): SGD momentum. (default: :obj:`0.9`)
        nesterov (bool, optional): Nesterov momentum. (default: :obj:`True`)
        weight_decay (float, optional): L2 weight decay. (default: :obj:`5e-4`)
        schedule (str, optional): ``"cosine"`` (to zero over all steps) or
            ``"constant"``. (default: :obj:`"cosine"`)
        warmup_epochs (float, optional): Linear warm-up length. (default: :obj:`0`)
        alpha (float, optional): Weight of the cross-entropy in the KD loss
            (:class:`~dassgnn.kd.KDLoss`); runs without a teacher use 1.
            (default: :obj:`0.5`)
        temperature (float, optional): KD temperature. (default: :obj:`4.0`)
        label_smoothing (float, optional): (default: :obj:`0.0`)
        crop_padding (int, optional): Random-crop padding; 0 disables.
            (default: :obj:`4`)
        hflip (bool, optional): Random horizontal flips (off by default: they
            change the meaning of digits and characters). (default: :obj:`False`)
        normalize (bool, optional): Standardise with the training set's
            per-channel mean and std. (default: :obj:`True`)
        eval_every (int, optional): Evaluate on the test set every this many
            epochs for the curves; 0 evaluates only after the last epoch, whose
            accuracy is the result either way. (default: :obj:`1`)
        init (str, optional): How a student starts: a remapping strategy from
            :data:`~dassgnn.space.REMAP_STRATEGIES` (``"copy_first"``, ...) or
            ``"random"``. Teachers always start at random. (default: :obj:`"copy_first"`)
        amp (bool, optional): bfloat16 autocast on CUDA (ignored on CPU).
            (default: :obj:`False`)
        max_loss (float, optional): A loss above this (or not finite) stops the
            run as diverged. (default: :obj:`1e4`)
    """

    epochs: int = 10
    min_steps: int = 0
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    alpha: float = 0.5
    temperature: float = 4.0
    label_smoothing: float = 0.0
    crop_padding: int = 4
    hflip: bool = False
    normalize: bool = True
    eval_every: int = 1
    init: str = "copy_first"
    amp: bool = False
    max_loss: float = 1e4

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("crop_padding", "eval_every", "min_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.schedule not in _SCHEDULES:
            raise ValueError(f"schedule must be one of {_SCHEDULES}, got {self.schedule!r}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(
                f"warmup_epochs must lie in [0, epochs={self.epochs}), got {self.warmup_epochs!r}"
            )
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must lie in [0, 1], got {self.alpha!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature!r}")
        if not isinstance(self.init, str) or not self.init:
            raise ValueError(f"init must name a remapping strategy or 'random', got {self.init!r}")

    def epochs_for(self, steps_per_epoch: int) -> int:
        """Epochs of a run with ``steps_per_epoch`` steps an epoch (``min_steps`` applied)."""
        return max(self.epochs, -(-self.min_steps // max(1, steps_per_epoch)))

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown recipe fields {unknown}; valid fields: {sorted(names)}")
        return cls(**data)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def key(self) -> str:
        """A short stable hash of the canonical JSON, for record keys."""
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:12]
