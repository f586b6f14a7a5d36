"""Training recipes: every hyper-parameter of a training run, in one record."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from dassgnn.space.remap import REMAP_STRATEGIES
from dassgnn.utils.validation import check_bool, check_choice, check_float, check_int

_SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class Recipe:
    r"""How a network is trained: optimiser, schedule, loss, augmentation.

    The defaults are SGD with Nesterov momentum and a cosine schedule, random
    crops (zero padding 4) and per-channel standardisation with the training
    set's statistics. A recipe is frozen, hashable and JSON-serialisable, so
    that records can say exactly how a run was made (`key`).

    Args:
        epochs (int, optional): Passes over the training set. (default: `10`)
        min_steps (int, optional): At least this many optimiser steps: small
            training sets get as many more epochs as that takes, so that one
            recipe trains comparably on tasks of different sizes. (default: `0`)
        batch_size (int, optional): Images per step. (default: `128`)
        lr (float, optional): Peak learning rate. (default: `0.05`)
        momentum (float, optional): SGD momentum. (default: `0.9`)
        nesterov (bool, optional): Nesterov momentum. (default: `True`)
        weight_decay (float, optional): L2 weight decay. (default: `5e-4`)
        schedule (str, optional): ``"cosine"`` (to zero over all steps) or
            ``"constant"``. (default: `"cosine"`)
        warmup_epochs (float, optional): Linear warm-up length. (default: `0`)
        alpha (float, optional): Weight of the cross-entropy in the KD loss
            ([`KDLoss`][dassgnn.kd.KDLoss]); runs without a teacher use 1.
            (default: `0.5`)
        temperature (float, optional): KD temperature. (default: `4.0`)
        label_smoothing (float, optional): (default: `0.0`)
        crop_padding (int, optional): Random-crop padding; 0 disables.
            (default: `4`)
        hflip (bool, optional): Random horizontal flips (off by default: they
            change the meaning of digits and characters). (default: `False`)
        normalize (bool, optional): Standardise with the training set's
            per-channel mean and std. (default: `True`)
        eval_every (int, optional): Evaluate on the test set every this many
            epochs for the curves; 0 evaluates only after the last epoch, whose
            accuracy is the result either way. (default: `1`)
        init (str, optional): How a student starts: a remapping strategy from
            [`REMAP_STRATEGIES`][dassgnn.space.REMAP_STRATEGIES] (``"copy_first"``, ...) or
            ``"random"``. Teachers always start at random. (default: `"copy_first"`)
        amp (bool, optional): bfloat16 autocast on CUDA (ignored on CPU).
            (default: `False`)
        max_loss (float, optional): A loss above this (or not finite) stops the
            run as diverged. (default: `1e4`)
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
        def set_(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for name, minimum in (
            ("epochs", 1),
            ("batch_size", 1),
            ("min_steps", 0),
            ("crop_padding", 0),
            ("eval_every", 0),
        ):
            set_(name, check_int(getattr(self, name), name, minimum=minimum))
        for name in ("nesterov", "hflip", "normalize", "amp"):
            set_(name, check_bool(getattr(self, name), name))
        set_("lr", check_float(self.lr, "lr", minimum=0, min_open=True))
        set_(
            "momentum", check_float(self.momentum, "momentum", minimum=0, maximum=1, max_open=True)
        )
        set_("weight_decay", check_float(self.weight_decay, "weight_decay", minimum=0))
        set_("alpha", check_float(self.alpha, "alpha", minimum=0, maximum=1))
        set_("temperature", check_float(self.temperature, "temperature", minimum=0, min_open=True))
        set_(
            "label_smoothing",
            check_float(
                self.label_smoothing, "label_smoothing", minimum=0, maximum=1, max_open=True
            ),
        )
        set_("max_loss", check_float(self.max_loss, "max_loss", minimum=0, min_open=True))
        set_(
            "warmup_epochs",
            check_float(
                self.warmup_epochs, "warmup_epochs", minimum=0, maximum=self.epochs, max_open=True
            ),
        )
        check_choice(self.schedule, "schedule", _SCHEDULES)
        check_choice(self.init, "init", ("random", *REMAP_STRATEGIES.list()))
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")

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
        """Inverse of `to_dict()`; unknown keys are an error."""
        if not isinstance(data, dict):
            raise TypeError(f"a recipe must be a mapping of fields, got {type(data).__name__}")
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
