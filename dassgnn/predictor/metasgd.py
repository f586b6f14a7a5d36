r"""Meta-SGD with teacher-guided adaptation, and the plain (pooled) fit it is compared with.

Meta-SGD ([Li et al., 2017](https://arxiv.org/abs/1707.09835)) learns, beside the
initial head parameters $\theta$, one step size per parameter $\boldsymbol\alpha$:
on a task, the head takes ``inner_steps`` steps

$$
\theta' = \theta - \boldsymbol\alpha \odot \nabla_\theta
\mathcal{L}_{\text{support}}(\theta),
$$

where the support set is the teacher itself (its graph, its own functional map,
its measured accuracy; DaSS's teacher-guided adaptation), optionally with a
few measured students; the outer loss is the prediction loss of $\theta'$ on
the task's measured students, back-propagated through the inner steps (or not,
with ``first_order``) into $\theta$, $\boldsymbol\alpha$ and the encoders.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from dassgnn.metrics import spearman
from dassgnn.predictor.inputs import TaskInputs
from dassgnn.predictor.model import DaSSPredictor, pairwise_rank_loss, prediction_loss


def _key(name: str) -> str:
    return name.replace(".", "__")


class MetaSGD(nn.Module):
    """The learned per-parameter inner step sizes of a predictor's head
    (stored as logarithms, so they stay positive), and the inner loop.

    Args:
        model (DaSSPredictor): The predictor whose head is adapted.
        init_lr (float, optional): The initial step size of every parameter (on the
            squared error of accuracies in $[0, 1]$). (default: `0.1`)
    """

    def __init__(self, model: DaSSPredictor, init_lr: float = 0.1) -> None:
        super().__init__()
        self.init_lr = init_lr
        self.log_lr = nn.ParameterDict(
            {
                _key(n): nn.Parameter(torch.full_like(p, math.log(init_lr)))
                for n, p in model.head_parameters().items()
            }
        )

    def adapt(
        self,
        model: DaSSPredictor,
        task: Tensor,
        support: TaskInputs,
        *,
        steps: int = 1,
        create_graph: bool = False,
        rank_weight: float = 0.0,
    ) -> dict[str, Tensor]:
        """The head parameters after ``steps`` inner steps on ``support``.

        Args:
            model (DaSSPredictor): The predictor.
            task (Tensor): Its task embedding.
            support (TaskInputs): The support set, with targets.
            steps (int, optional): Inner steps. (default: `1`)
            create_graph (bool, optional): Keep the graph for second-order
                meta-gradients. (default: `False`)
            rank_weight (float, optional): Ranking loss weight in the inner loss. (default: `0`)

        Returns:
            dict[str, Tensor]: Adapted head parameters by name.
        """
        assert support.targets is not None
        params = model.head_parameters()
        students = model.embed_students(support)
        for _ in range(steps):
            pred = model.fuse(task, students, params)
            loss = F.mse_loss(pred, support.targets)
            if rank_weight and pred.numel() > 1:
                loss = loss + rank_weight * pairwise_rank_loss(pred, support.targets)
            grads = torch.autograd.grad(
                loss, list(params.values()), create_graph=create_graph, allow_unused=True
            )
            params = {
                n: p - self.log_lr[_key(n)].exp() * g if g is not None else p
                for (n, p), g in zip(params.items(), grads, strict=True)
            }
        return params


@dataclass
class Episode:
    """One task of meta-training or evaluation: its measured students and the support set."""

    inputs: TaskInputs
    support: TaskInputs


def predict_episode(
    model: DaSSPredictor, metasgd: MetaSGD | None, episode: Episode, *, adapt: bool = True
) -> Tensor:
    """Predicted accuracies of an episode's students (adapted on its support set
    when ``adapt`` and a Meta-SGD module are given)."""
    task = model.embed_task(episode.inputs)
    students = model.embed_students(episode.inputs)
    if metasgd is None or not adapt:
        return model.fuse(task, students)
    with torch.enable_grad():
        params = metasgd.adapt(model, task, episode.support, steps=model.config.inner_steps)
    return model.fuse(task, students, params)


def evaluate(
    model: DaSSPredictor, metasgd: MetaSGD | None, episodes: Sequence[Episode], adapt: bool = True
) -> list[float]:
    """Spearman $\\rho$ of the predictions with the targets, per episode."""
    model.eval()
    out = []
    for ep in episodes:
        assert ep.inputs.targets is not None
        with torch.no_grad() if metasgd is None or not adapt else torch.enable_grad():
            pred = predict_episode(model, metasgd, ep, adapt=adapt).detach()
        out.append(spearman(pred.numpy(), ep.inputs.targets.numpy()))
    return out


@dataclass
class TrainLog:
    """What meta-training measured: the validation $\\rho$ at each evaluation
    and the step of the kept checkpoint."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_rho: list[float] = field(default_factory=list)
    best_step: int = 0
    best_val_rho: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "steps": self.steps,
            "train_loss": self.train_loss,
            "val_rho": self.val_rho,
            "best_step": self.best_step,
            "best_val_rho": self.best_val_rho,
        }


def meta_train(
    model: DaSSPredictor,
    train: Sequence[Episode],
    val: Sequence[Episode] = (),
    *,
    progress: bool = False,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[MetaSGD | None, TrainLog]:
    """Meta-trains ``model`` in place on ``train`` episodes (Meta-SGD with
    teacher-guided adaptation, or one pooled fit when ``config.meta`` is off)
    and keeps the state with the best mean Spearman $\\rho$ on ``val`` (the
    last state when there is no validation episode).

    Args:
        model (DaSSPredictor): The predictor; its ``config`` holds the settings.
        train (Sequence[Episode]): Meta-training tasks.
        val (Sequence[Episode], optional): Meta-validation tasks (never meta-test).
        progress (bool, optional): A progress bar with loss and validation $\\rho$.
        callback (callable, optional): Called with ``(step, mean val rho)`` after
            each validation.

    Returns:
        tuple[MetaSGD or None, TrainLog]: The learned step sizes (None without
        meta-learning) and the training log.
    """
    cfg = model.config
    if not train:
        raise ValueError("meta-training needs at least one training task")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    metasgd = MetaSGD(model) if cfg.meta else None
    params = list(model.parameters()) + (list(metasgd.parameters()) if metasgd else [])
    optimizer = torch.optim.Adam(
        [p for p in params if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    log = TrainLog()
    best: tuple[dict[str, Tensor], dict[str, Tensor] | None] | None = None
    bar = tqdm(range(1, cfg.steps + 1), desc="meta-train", disable=not progress, leave=False)
    running = []
    for step in bar:
        model.train()
        picked = rng.choice(len(train), size=min(cfg.meta_batch, len(train)), replace=False)
        losses = []
        for i in picked:
            ep = train[int(i)]
            n = len(ep.inputs)
            query_idx = rng.permutation(n)[: cfg.query_size]
            query = ep.inputs.subset(query_idx)
            task = model.embed_task(ep.inputs)
            if metasgd is not None:
                support = ep.support
                if cfg.support_students:
                    rest = rng.permutation(n)[: cfg.support_students]
                    support = _join(support, ep.inputs.subset(rest))
                adapted = metasgd.adapt(
                    model, task, support, steps=cfg.inner_steps, create_graph=not cfg.first_order
                )
                pred = model.fuse(task, model.embed_students(query), adapted)
            else:
                pred = model.fuse(task, model.embed_students(query))
            assert query.targets is not None
            losses.append(prediction_loss(pred, query.targets, cfg.rank_weight))
        loss = torch.stack(losses).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running.append(float(loss.detach()))
        if step % cfg.eval_every == 0 or step == cfg.steps:
            rho = float(np.nanmean(evaluate(model, metasgd, val, cfg.adapt))) if val else math.nan
            log.steps.append(step)
            log.train_loss.append(float(np.mean(running)))
            log.val_rho.append(rho)
            running = []
            bar.set_postfix(loss=f"{log.train_loss[-1]:.3f}", val_rho=f"{rho:.3f}")
            if callback is not None:
                callback(step, rho)
            if (
                not val
                or best is None
                or (not math.isnan(rho) and rho > log.best_val_rho)
                or (math.isnan(log.best_val_rho))
            ):
                log.best_step, log.best_val_rho = step, rho
                best = (
                    copy.deepcopy(model.state_dict()),
                    copy.deepcopy(metasgd.state_dict()) if metasgd else None,
                )
    if best is not None:
        model.load_state_dict(best[0])
        if metasgd is not None and best[1] is not None:
            metasgd.load_state_dict(best[1])
    model.eval()
    return metasgd, log


def _join(a: TaskInputs, b: TaskInputs) -> TaskInputs:
    assert a.targets is not None and b.targets is not None
    from dataclasses import replace

    return replace(
        a,
        archs=a.archs + b.archs,
        graphs=a.graphs + b.graphs,
        flat=torch.cat([a.flat, b.flat]),
        cost=torch.cat([a.cost, b.cost]),
        student_grams=torch.cat([a.student_grams, b.student_grams]),
        targets=torch.cat([a.targets, b.targets]),
    )
