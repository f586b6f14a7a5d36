"""The settings of the DaSS predictor and of its meta-training, in one record."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from dassgnn.encoders.arch import LAYERS
from dassgnn.encoders.dataset import FEATURIZERS
from dassgnn.encoders.functional import NoiseSpec
from dassgnn.utils.validation import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_ints,
    check_seed,
)

ARCH_ENCODERS = (*LAYERS, "flat")
"""Architecture encoders: a GNN layer type of [`ArchGNN`][dassgnn.encoders.ArchGNN],
or ``"flat"`` for the choice vector of the original DaSS code."""

BRANCHES = ("arch", "cost", "dataset", "teacher", "student", "prior")
"""The inputs that can be switched off for ablations: the five inputs of the fusion MLP,
and ``prior``, the linear size prior on the simple architecture features that the MLP's
output corrects."""

DEFAULT_BRANCHES = BRANCHES[:-1]
"""The inputs of the default predictor: every branch but the size ``prior``. The prior was
the means to a zero-shot floor at size (issue 14); on meta-validation it cost 0.06-0.09 in
mean Spearman rho at every k (4 seeds, `benchmarks/predictor_study.py`), so it is an option,
not the default."""


@dataclass(frozen=True)
class PredictorConfig:
    """Every setting of a [`DaSSRanker`][dassgnn.predictor.DaSSRanker]: the model,
    its inputs, and its meta-training. Frozen, validated, JSON round-trip
    (it is stored in the checkpoint).

    Args:
        arch_encoder (str, optional): ``"gine"``, ``"gatv2"``, ``"topo"`` or ``"flat"``.
            (default: `"gine"`)
        hidden (int, optional): Width of the encoders and of the fusion MLP. (default: `64`)
        gnn_layers (int, optional): Message-passing rounds. (default: `3`)
        featurizer (str, optional): Image features of the dataset encoder:
            ``"random_conv"`` (fixed, seeded) or ``"learned_conv"``. (default: `"random_conv"`)
        per_class (int, optional): Images a class in the dataset sample. (default: `10`)
        noise (NoiseSpec, optional): The fixed noise input of the functional maps.
            (default: `NoiseSpec(seed=0, num=8, size=8)`)
        branches (tuple[str, ...], optional): The inputs used, a subset of
            [`BRANCHES`][dassgnn.predictor.config.BRANCHES].
            (default: [`DEFAULT_BRANCHES`][dassgnn.predictor.config.DEFAULT_BRANCHES],
            all but ``prior``)
        meta (bool, optional): Meta-SGD with teacher-guided adaptation; `False`
            fits one model on all tasks pooled. (default: `True`)
        adapt (bool, optional): Adapt on the support set (the teacher and any measured
            students) at prediction time (only with ``meta``). (default: `True`)
        inner_steps (int, optional): Inner-loop steps. (default: `3`)
        inner_lr (float, optional): The initial step size of Meta-SGD's learned
            per-parameter step sizes. (default: `1e-3`)
        step_size_lr (float, optional): Adam's learning rate for Meta-SGD's log step
            sizes; `0` uses ``lr`` (at ``lr`` = 1e-3, 400 steps can move a step size by at
            most a factor of 1.5). (default: `0.0`)
        first_order (bool, optional): First-order Meta-SGD. (default: `False`)
        shots (tuple[int, ...], optional): The numbers of measured students drawn, one
            per meta-training episode, into the support set beside the teacher (disjoint
            from the episode's query), so that one checkpoint serves every $k$.
            (default: `(0, 3, 5, 10)`)
        teacher_weight (float, optional): The teacher's weight in the support loss, beside
            weight 1 for the mean over the measured students (so the teacher does not fade
            to $1/(k+1)$ as $k$ grows). (default: `1.0`)
        val_shots (tuple[int, ...], optional): The $k$ at which validation measures
            Spearman $\rho$ (on the students not in the support set); the checkpoint
            kept has the best mean over them. (default: `(0, 10)`)
        val_draws (int, optional): Support sets drawn a validation task and $k > 0$
            (the same draws at every validation). (default: `5`)
        min_reliability (float, optional): Meta-training tasks whose seed-mean label
            reliability is measured below this are left out (tasks with one KD seed,
            whose reliability is unknown, are kept). (default: `0.0`)
        bounded (bool, optional): Predict $\\sigma(\\cdot)$ of the prior plus the correction,
            so that predicted accuracies stay in $(0, 1)$ however far adaptation
            extrapolates (the ranking is the same function's). (default: `False`)
        residual_alpha (float, optional): With measured students, add to every prediction
            a ridge (this penalty) of the measured students' residuals on their simple
            architecture features, after adaptation
            ([`ResidualRidge`][dassgnn.predictor.residual.ResidualRidge]); `0` switches it
            off. (default: `0.0`)
        residual_alphas (tuple[float, ...], optional): Several penalties for that ridge,
            chosen per task by leave-one-out error on the measured students, with no
            slope (no reordering) as one more candidate; overrides ``residual_alpha``.
            (default: `()`, off)
        reliability_weighting (bool, optional): Weight each meta-training task's outer
            loss by its label reliability (clipped to $[0, 1]$; 1 where unknown).
            (default: `False`)
        steps (int, optional): Outer (meta) steps. (default: `400`)
        meta_batch (int, optional): Tasks a meta step. (default: `4`)
        query_size (int, optional): Students a task in a meta step. (default: `24`)
        lr (float, optional): Adam learning rate of the outer loop. (default: `1e-3`)
        weight_decay (float, optional): Adam weight decay. (default: `1e-4`)
        rank_weight (float, optional): Weight of the pairwise ranking loss beside
            the squared error. (default: `1.0`)
        eval_every (int, optional): Meta steps between validations. (default: `25`)
        seed (int, optional): Seeds initial weights and episode sampling. (default: `0`)
        drop_node_features (tuple[str, ...], optional): Node features of the
            architecture graphs fed to the GNN as zeros, by name (the schema's
            ``node_features``), e.g. the absolute stage one-hots that a space with
            more stages than any meta-training teacher would set where training
            never did. (default: `()`)
        ensemble (int, optional): Members trained with seeds ``seed, seed + 1, ...``
            (each kept at its best validation step); predictions are their mean.
            (default: `1`)
    """

    arch_encoder: str = "gine"
    hidden: int = 64
    gnn_layers: int = 3
    featurizer: str = "random_conv"
    per_class: int = 10
    noise: NoiseSpec = field(default_factory=lambda: NoiseSpec(seed=0, num=8, size=8))
    branches: tuple[str, ...] = DEFAULT_BRANCHES
    meta: bool = True
    adapt: bool = True
    inner_steps: int = 3
    inner_lr: float = 1e-3
    step_size_lr: float = 0.0
    first_order: bool = False
    shots: tuple[int, ...] = (0, 3, 5, 10)
    teacher_weight: float = 1.0
    val_shots: tuple[int, ...] = (0, 10)
    val_draws: int = 5
    min_reliability: float = 0.0
    reliability_weighting: bool = False
    bounded: bool = False
    residual_alpha: float = 0.0
    residual_alphas: tuple[float, ...] = ()
    steps: int = 400
    meta_batch: int = 4
    query_size: int = 24
    lr: float = 1e-3
    weight_decay: float = 1e-4
    rank_weight: float = 1.0
    eval_every: int = 25
    seed: int = 0
    ensemble: int = 1
    drop_node_features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        def set_(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        check_choice(self.arch_encoder, "arch_encoder", ARCH_ENCODERS)
        check_choice(self.featurizer, "featurizer", FEATURIZERS)
        for name, minimum in (
            ("hidden", 1),
            ("gnn_layers", 1),
            ("per_class", 1),
            ("inner_steps", 1),
            ("val_draws", 1),
            ("steps", 0),
            ("meta_batch", 1),
            ("query_size", 2),
            ("eval_every", 1),
            ("ensemble", 1),
        ):
            set_(name, check_int(getattr(self, name), name, minimum=minimum))
        set_("seed", check_seed(self.seed))
        for name in ("meta", "adapt", "first_order", "reliability_weighting", "bounded"):
            set_(name, check_bool(getattr(self, name), name))
        set_("lr", check_float(self.lr, "lr", minimum=0, min_open=True))
        set_("inner_lr", check_float(self.inner_lr, "inner_lr", minimum=0, min_open=True))
        set_("step_size_lr", check_float(self.step_size_lr, "step_size_lr", minimum=0))
        set_("weight_decay", check_float(self.weight_decay, "weight_decay", minimum=0))
        set_("rank_weight", check_float(self.rank_weight, "rank_weight", minimum=0))
        set_("teacher_weight", check_float(self.teacher_weight, "teacher_weight", minimum=0))
        set_("residual_alpha", check_float(self.residual_alpha, "residual_alpha", minimum=0))
        if isinstance(self.residual_alphas, (int, float, str)):
            raise TypeError(
                f"residual_alphas must be a list of penalties, got {self.residual_alphas!r}"
            )
        set_(
            "residual_alphas",
            tuple(
                check_float(a, "residual_alphas", minimum=0, min_open=True)
                for a in self.residual_alphas
            ),
        )
        set_(
            "min_reliability",
            check_float(self.min_reliability, "min_reliability", minimum=-1, maximum=1),
        )
        for name in ("shots", "val_shots"):
            set_(name, check_ints(getattr(self, name), name, minimum=0, nonempty=True))
        if isinstance(self.noise, dict):
            set_("noise", NoiseSpec(**self.noise))
        if not isinstance(self.noise, NoiseSpec):
            raise TypeError(f"noise must be a NoiseSpec, got {type(self.noise).__name__}")
        if isinstance(self.branches, str):
            raise TypeError(f"branches must be a list of names, got {self.branches!r}")
        branches = tuple(self.branches)
        for b in branches:
            check_choice(b, "branches", BRANCHES)
        if not branches:
            raise ValueError(f"branches must name at least one of {list(BRANCHES)}")
        set_("branches", tuple(b for b in BRANCHES if b in branches))
        if isinstance(self.drop_node_features, str):
            raise TypeError(
                f"drop_node_features must be a list of names, got {self.drop_node_features!r}"
            )
        set_("drop_node_features", tuple(str(n) for n in self.drop_node_features))

    def uses(self, branch: str) -> bool:
        """Whether the fusion MLP sees ``branch``."""
        return branch in self.branches

    def replace(self, **changes: Any) -> PredictorConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out = dataclasses.asdict(self)
        for name in ("branches", "shots", "val_shots", "residual_alphas"):
            out[name] = list(getattr(self, name))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PredictorConfig:
        """Inverse of `to_dict()`; unknown keys are an error."""
        if not isinstance(data, dict):
            raise TypeError(f"a predictor config must be a mapping, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown predictor settings {unknown}; valid: {sorted(names)}")
        return cls(**data)
