r"""The DaSS predictor network: encoders of the task and of each student, fused
by an MLP into a predicted accuracy after KD."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from dassgnn.encoders import (
    ArchGNN,
    ConvFeatures,
    DatasetEncoder,
    FlatArchEncoder,
    GramEncoder,
    gram_similarity,
)
from dassgnn.predictor.config import PredictorConfig
from dassgnn.predictor.inputs import IMAGE_FEATURES, StudentInputs, TaskContext
from dassgnn.space import ARCH_FEATURES, GraphSchema


class DaSSPredictor(nn.Module):
    r"""Predicts students' accuracies after KD from a teacher on a task
    ([Lee et al., ICLR 2023](https://openreview.net/forum?id=SEh5SfEQtqB)).

    A task is embedded once (the dataset sample through a hierarchical set
    transformer, the teacher's functional map, its accuracy and the number of
    classes); every student is embedded by its architecture (a GNN over its
    graph, or its flat choice vector), its cost relative to the teacher, and its
    functional map with the teacher's weights remapped into it (and the map's
    similarity to the teacher's). The prediction is a linear size prior on the
    student's simple features $\mathbf{x}_i$ (log parameters and FLOPs, depth and
    width of its stages, all relative to the teacher) plus a correction by the
    fusion MLP on $[\mathbf{t} \,\|\, \mathbf{s}_i]$:

    $$
    \hat a_i = \mathbf{w}^\top \mathbf{x}_i + b
    + \mathrm{MLP}_\theta\big([\mathbf{t} \,\|\, \mathbf{s}_i]\big).
    $$

    Branches that the config switches off are fed as zeros (the prior is dropped),
    so ablations share one architecture. The parameters of the prior and of the MLP,
    $\phi = (\mathbf{w}, b, \theta)$, are the ones Meta-SGD adapts on the support set
    ([`MetaSGD`][dassgnn.predictor.MetaSGD]).

    Args:
        config (PredictorConfig): The settings.
        schema (GraphSchema): The graph schema of the spaces it reads.

    Shapes:
        - **input:** a [`TaskContext`][dassgnn.predictor.TaskContext] and
          [`StudentInputs`][dassgnn.predictor.StudentInputs] of $B$ students
        - **output:** $(B,)$ predicted accuracies
    """

    def __init__(self, config: PredictorConfig, schema: GraphSchema) -> None:
        super().__init__()
        self.config = config
        self.schema = schema
        unknown = sorted(set(config.drop_node_features) - set(schema.node_features))
        if unknown:
            raise ValueError(
                f"drop_node_features {unknown} are not node features of the graph schema: "
                f"{list(schema.node_features)}"
            )
        keep = [0.0 if n in config.drop_node_features else 1.0 for n in schema.node_features]
        self.register_buffer("node_mask", torch.tensor(keep), persistent=False)
        h = config.hidden
        if config.arch_encoder == "flat":
            self.arch: nn.Module = FlatArchEncoder(h, h)
        else:
            self.arch = ArchGNN(
                schema.num_node_features,
                schema.num_edge_features,
                h,
                h,
                num_layers=config.gnn_layers,
                layer=config.arch_encoder,
            )
        self.featurizer = (
            ConvFeatures(IMAGE_FEATURES, trainable=True, seed=config.seed)
            if config.featurizer == "learned_conv"
            else None
        )
        self.dataset = DatasetEncoder(IMAGE_FEATURES, h, h)
        self.gram = GramEncoder(h // 2)
        self.task_size = h + h // 2 + 2
        self.student_size = h + 2 + h // 2 + 1
        self.head = nn.Sequential(
            nn.Linear(self.task_size + self.student_size, 2 * h),
            nn.ReLU(),
            nn.Linear(2 * h, h),
            nn.ReLU(),
            nn.Linear(h, 1),
        )
        self.prior = nn.Linear(len(ARCH_FEATURES), 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises every trainable layer from ``config.seed`` (the global
        random state is left as it was; the fixed featurizer is not trainable).
        The size prior starts at zero."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            self._reset()

    def _reset(self) -> None:
        for module in (self.arch, self.dataset, self.gram):
            module.reset_parameters()  # type: ignore[operator]
        for m in self.dataset.modules():  # PyG's set transformer leaves these as built
            if isinstance(m, nn.MultiheadAttention):
                m.out_proj.reset_parameters()
                m._reset_parameters()
        if self.featurizer is not None:
            self.featurizer.reset_parameters()
        for layer in self.head:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
        nn.init.zeros_(self.prior.weight)
        nn.init.zeros_(self.prior.bias)

    def embed_task(self, context: TaskContext) -> Tensor:
        """The task's embedding $\\mathbf{t}$, $(1, \\text{task\\_size})$."""
        cfg, h = self.config, self.config.hidden
        parts = []
        if cfg.uses("dataset"):
            feats = (
                self.featurizer(context.images)
                if self.featurizer is not None
                else context.image_features
            )
            parts.append(self.dataset(feats, context.image_labels))
        else:
            parts.append(torch.zeros(1, h))
        if cfg.uses("teacher"):
            parts.append(self.gram(context.teacher_gram[None]))
            acc = torch.tensor([[context.teacher_acc, math.log2(context.num_classes) / 8]])
            parts.append(acc)
        else:
            parts.append(torch.zeros(1, h // 2 + 2))
        return torch.cat(parts, dim=-1)

    def embed_students(self, context: TaskContext, students: StudentInputs) -> Tensor:
        """The students' embeddings $\\mathbf{s}_i$, $(B, \\text{student\\_size})$."""
        cfg, h, b = self.config, self.config.hidden, len(students)
        parts = []
        if cfg.uses("arch"):
            if cfg.arch_encoder == "flat":
                parts.append(self.arch(students.flat))
            else:
                batch = students.graph_batch()
                if self.config.drop_node_features:
                    batch = batch.clone()
                    batch.x = batch.x * self.node_mask
                parts.append(self.arch(batch))
        else:
            parts.append(torch.zeros(b, h))
        parts.append(students.cost if cfg.uses("cost") else torch.zeros(b, 2))
        if cfg.uses("student"):
            parts.append(self.gram(students.grams))
            sim = gram_similarity(students.grams, context.teacher_gram)
            parts.append(sim[:, None])
        else:
            parts.append(torch.zeros(b, h // 2 + 1))
        return torch.cat(parts, dim=-1)

    def fuse(
        self,
        task: Tensor,
        students: Tensor,
        simple: Tensor,
        params: Mapping[str, Tensor] | None = None,
    ) -> Tensor:
        """The prediction from the task's and the students' embeddings and the students'
        simple features, optionally with other (adapted) parameters of the prior and the
        head (named as in `adapted_parameters()`): $(B,)$."""
        x = torch.cat([task.expand(students.shape[0], -1), students], dim=-1)
        if params is None:
            out = self.head(x).squeeze(-1)
            if self.config.uses("prior"):
                out = out + self.prior(simple).squeeze(-1)
        else:
            head = {n[len("head.") :]: p for n, p in params.items() if n.startswith("head.")}
            out = functional_call(self.head, head, (x,)).squeeze(-1)
            if self.config.uses("prior"):
                prior = {n[6:]: p for n, p in params.items() if n.startswith("prior.")}
                out = out + functional_call(self.prior, prior, (simple,)).squeeze(-1)
        return torch.sigmoid(out) if self.config.bounded else out

    def forward(self, context: TaskContext, students: StudentInputs) -> Tensor:
        return self.fuse(
            self.embed_task(context), self.embed_students(context, students), students.simple
        )

    def adapted_parameters(self) -> dict[str, Tensor]:
        """The parameters Meta-SGD adapts, by name: the fusion head's and the size
        prior's (``head.*``, ``prior.*``)."""
        out: dict[str, Tensor] = {f"head.{n}": p for n, p in self.head.named_parameters()}
        if self.config.uses("prior"):
            out.update({f"prior.{n}": p for n, p in self.prior.named_parameters()})
        return out

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(arch={self.config.arch_encoder!r}, "
            f"hidden={self.config.hidden}, branches={list(self.config.branches)})"
        )


def pairwise_rank_loss(pred: Tensor, target: Tensor, scale: float = 0.01) -> Tensor:
    """The logistic loss of every ordered pair of students whose measured
    accuracies differ, on prediction differences in units of ``scale``."""
    diff_t = target[:, None] - target[None, :]
    diff_p = (pred[:, None] - pred[None, :]) / scale
    mask = diff_t > 0
    if not bool(mask.any()):
        return pred.sum() * 0.0
    return F.softplus(-diff_p[mask]).mean()


def prediction_loss(
    pred: Tensor, target: Tensor, rank_weight: float, weight: Tensor | None = None
) -> Tensor:
    """Squared error in accuracy points (percent squared / 100), weighted by ``weight``
    (normalised to sum to one; default equal), plus ``rank_weight`` times
    [`pairwise_rank_loss`][dassgnn.predictor.model.pairwise_rank_loss]."""
    err = (pred * 10 - target * 10) ** 2
    w = torch.ones_like(err) if weight is None else weight
    mse = (err * w).sum() / w.sum().clamp_min(1e-12)
    if rank_weight == 0 or pred.numel() < 2:
        return mse
    return mse + rank_weight * pairwise_rank_loss(pred, target)


def support_weights(size: int, teacher_weight: float) -> Tensor:
    """The weights of a support set's rows in the support loss: ``teacher_weight`` for
    the teacher (row 0) and one share of weight 1 for each of the ``size - 1`` measured
    students, so that the teacher's weight does not fade as students are added."""
    w = torch.ones(size)
    if size > 1:
        w[1:] = 1.0 / (size - 1)
    w[0] = teacher_weight if size > 1 else 1.0
    return w


def support_loss(pred: Tensor, target: Tensor, config: PredictorConfig) -> Tensor:
    """The loss Meta-SGD's inner loop minimises on a support set (the teacher's row
    first): [`prediction_loss`][dassgnn.predictor.model.prediction_loss] with
    [`support_weights`][dassgnn.predictor.model.support_weights], the same in
    meta-training, validation and prediction."""
    weight = support_weights(pred.numel(), config.teacher_weight)
    return prediction_loss(pred, target, config.rank_weight, weight)


def soft_bound(pred: np.ndarray, low: float = 0.05, high: float = 0.95) -> np.ndarray:
    r"""Predicted accuracies kept inside $(0, 1)$ without changing their order: the identity
    on $[l, h]$ (``low``, ``high``), and beyond it a rational curve with slope 1 at the
    joint that approaches 1 (or 0) but never reaches it, so distinct inputs stay distinct:

    $$
    b(y) = h + (1 - h) \frac{z}{1 + z}, \; z = \frac{y - h}{1 - h} \quad (y > h),
    \qquad
    b(y) = l - l \frac{z}{1 + z}, \; z = \frac{l - y}{l} \quad (y < l).
    $$

    The head's output is unbounded (a bounded output was worse on validation), so a
    zero-shot prediction for a student of a 98 % teacher can exceed 100 %; the learned
    ranking methods report this instead. Strictly increasing, so every rank correlation
    is that of the raw output.

    Args:
        pred (np.ndarray): Raw predicted accuracies (fractions).
        low (float, optional): Below this, squeezed towards 0. (default: `0.05`)
        high (float, optional): Above this, squeezed towards 1. (default: `0.95`)

    Shapes:
        - input: any
        - output: same as input
    """
    y = np.asarray(pred, dtype=np.float64)
    out = y.copy()
    up, down = y > high, y < low
    z = (y[up] - high) / (1 - high)
    out[up] = high + (1 - high) * (1 - 1 / (1 + z))  # z / (1 + z), finite at z = inf
    z = (low - y[down]) / low
    out[down] = low - low * (1 - 1 / (1 + z))
    return out
