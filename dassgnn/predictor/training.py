"""Meta-training and validation: the outer loop of few-shot Meta-SGD (episodes with ``k``
drawn from ``config.shots``, support and query disjoint), the validation at
``config.val_shots`` on fixed support draws, and the kept state (see
[`MetaSGD`][dassgnn.predictor.MetaSGD] for the inner loop)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from dassgnn.metrics import spearman, support_draws
from dassgnn.predictor.metasgd import Episode, MetaSGD, adapted
from dassgnn.predictor.model import DaSSPredictor, prediction_loss
from dassgnn.predictor.residual import residual_ridge


def evaluate(
    model: DaSSPredictor,
    metasgd: MetaSGD | None,
    episodes: Sequence[Episode],
    *,
    shots: Sequence[int] = (0,),
    draws: int = 5,
    adapt: bool = True,
    seed: int = 0,
) -> dict[int, list[float]]:
    """Spearman $\\rho$ with the seed-mean labels, per episode and $k$: for $k > 0$ the
    mean over ``draws`` support sets ([`support_draws`][dassgnn.metrics.support_draws];
    the students carry the accuracy of their first KD seed; the same draws for the same
    ``seed``), scored on the students outside the support set.

    Returns:
        dict[int, list[float]]: ``{k: [rho of each episode]}``.
    """
    model.eval()
    out: dict[int, list[float]] = {int(k): [] for k in shots}
    use_support = metasgd is not None and adapt
    ridge = residual_ridge(model.config)  # refitted on each support draw
    for e, ep in enumerate(episodes):
        assert ep.students.targets is not None
        truth = ep.students.targets.numpy()
        with torch.no_grad():
            task = model.embed_task(ep.context)
            student_emb = model.embed_students(ep.context, ep.students)
            teacher_emb = model.embed_students(ep.context, ep.teacher)
        for k in out:
            rhos = []
            for picked, rest in support_draws(
                len(truth), min(k, len(truth) - 3), draws, [seed, e, k]
            ):
                accs = ep.shot_accuracies(picked)
                if use_support:
                    assert metasgd is not None
                    shot = torch.as_tensor(picked, dtype=torch.long)
                    with torch.enable_grad():
                        params = adapted(
                            model,
                            metasgd,
                            task,
                            ep.teacher,
                            teacher_emb,
                            student_emb[shot],
                            ep.students.simple[shot],
                            accs,
                            create_graph=False,
                        )
                    params = {n: p.detach() for n, p in params.items()}
                else:
                    params = None
                with torch.no_grad():
                    idx = torch.as_tensor(rest, dtype=torch.long)
                    simple = ep.students.simple
                    pred = model.fuse(task, student_emb[idx], simple[idx], params)
                    if ridge is not None and len(picked):
                        shot = torch.as_tensor(picked, dtype=torch.long)
                        fitted = model.fuse(task, student_emb[shot], simple[shot], params)
                        pred = pred + ridge.fit(fitted, accs, simple[shot]).correction(simple[idx])
                rhos.append(spearman(pred.numpy(), truth[rest]))
            out[k].append(float(np.nanmean(rhos)))
    return out


def validation_score(rhos: dict[int, list[float]]) -> float:
    """The number checkpoint selection maximises: the mean over $k$ of the mean $\\rho$
    over the validation episodes."""
    means = [float(np.nanmean(v)) for v in rhos.values() if v]
    return float(np.mean(means)) if means else math.nan


@dataclass
class TrainLog:
    """What meta-training measured: the validation score (mean $\\rho$ over the
    validation $k$) at each evaluation, the $\\rho$ at each $k$, and the step of the kept
    checkpoint."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_rho: list[float] = field(default_factory=list)
    val_rho_by_k: list[dict[str, float]] = field(default_factory=list)
    best_step: int = 0
    best_val_rho: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "steps": self.steps,
            "train_loss": self.train_loss,
            "val_rho": self.val_rho,
            "val_rho_by_k": self.val_rho_by_k,
            "best_step": self.best_step,
            "best_val_rho": self.best_val_rho,
        }


def _episode_loss(
    model: DaSSPredictor,
    metasgd: MetaSGD | None,
    ep: Episode,
    rng: np.random.Generator,
) -> Tensor:
    """The outer loss of one episode: ``k`` drawn from ``config.shots``, support and query
    disjoint, the query labelled with seed means."""
    cfg = model.config
    n = len(ep.students)
    k = min(int(rng.choice(cfg.shots)), n - 3) if metasgd is not None else 0
    order = rng.permutation(n)
    picked, query = order[:k], order[k : k + cfg.query_size]
    accs = ep.shot_accuracies(picked, seed_column=None, rng=rng)
    task = model.embed_task(ep.context)
    emb = model.embed_students(ep.context, ep.students.subset(np.concatenate([picked, query])))
    simple = ep.students.simple
    params = None
    if metasgd is not None:
        params = adapted(
            model,
            metasgd,
            task,
            ep.teacher,
            model.embed_students(ep.context, ep.teacher),
            emb[: len(picked)],
            simple[torch.as_tensor(picked, dtype=torch.long)],
            accs,
            create_graph=not cfg.first_order,
        )
    idx = torch.as_tensor(query, dtype=torch.long)
    pred = model.fuse(task, emb[len(picked) :], simple[idx], params)
    assert ep.students.targets is not None
    return prediction_loss(pred, ep.students.targets[idx], cfg.rank_weight)


def _task_weight(ep: Episode, cfg: Any) -> float:
    """An episode's weight in the outer loss: its label reliability (clipped to [0, 1]) with
    ``reliability_weighting``, else (and where unknown) 1."""
    if not cfg.reliability_weighting or math.isnan(ep.reliability):
        return 1.0
    return float(min(max(ep.reliability, 0.0), 1.0))


def _meta_step(
    model: DaSSPredictor,
    metasgd: MetaSGD | None,
    optimizer: torch.optim.Optimizer,
    train: Sequence[Episode],
    rng: np.random.Generator,
) -> float:
    """One outer step on ``meta_batch`` episodes (their losses weighted by `_task_weight`);
    returns the loss."""
    cfg = model.config
    model.train()
    picked = rng.choice(len(train), size=min(cfg.meta_batch, len(train)), replace=False)
    losses = torch.stack([_episode_loss(model, metasgd, train[int(i)], rng) for i in picked])
    weights = torch.tensor([_task_weight(train[int(i)], cfg) for i in picked])
    loss = (losses * weights).sum() / weights.sum().clamp_min(1e-6)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _validate(
    model: DaSSPredictor,
    metasgd: MetaSGD | None,
    val: Sequence[Episode],
    log: TrainLog,
    step: int,
    running: list[float],
) -> float:
    """The validation score at ``config.val_shots`` (NaN without validation episodes),
    written into ``log`` with the mean training loss since the last validation."""
    cfg = model.config
    rho, by_k = math.nan, {}
    if val:
        shots = cfg.val_shots if cfg.meta and cfg.adapt else (0,)
        rhos = evaluate(
            model, metasgd, val, shots=shots, draws=cfg.val_draws, adapt=cfg.adapt, seed=cfg.seed
        )
        rho = validation_score(rhos)
        by_k = {str(k): float(np.nanmean(v)) for k, v in rhos.items()}
    log.steps.append(step)
    log.train_loss.append(float(np.mean(running)))
    log.val_rho.append(rho)
    log.val_rho_by_k.append(by_k)
    return rho


def _better(rho: float, best: float) -> bool:
    """Whether a validation score beats the best so far (a number beats NaN)."""
    return (not math.isnan(rho) and rho > best) or math.isnan(best)


def meta_train(
    model: DaSSPredictor,
    train: Sequence[Episode],
    val: Sequence[Episode] = (),
    *,
    progress: bool = False,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[MetaSGD | None, TrainLog]:
    """Meta-trains ``model`` in place on ``train`` episodes (Meta-SGD with few-shot,
    teacher-guided adaptation, or one pooled fit when ``config.meta`` is off) and keeps
    the state with the best [`validation_score`][dassgnn.predictor.validation_score]
    on ``val`` at ``config.val_shots`` (the last state when there is no validation episode).

    Args:
        model (DaSSPredictor): The predictor; its ``config`` holds the settings.
        train (Sequence[Episode]): Meta-training tasks.
        val (Sequence[Episode], optional): Meta-validation tasks (never meta-test).
        progress (bool, optional): A progress bar with loss and validation score.
        callback (callable, optional): Called with ``(step, validation score)`` after
            each validation.

    Returns:
        tuple[MetaSGD or None, TrainLog]: The learned step sizes (None without
        meta-learning) and the training log.
    """
    cfg = model.config
    if not train:
        raise ValueError("meta-training needs at least one training task")
    rng = np.random.default_rng(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        metasgd = MetaSGD(model, cfg.inner_lr) if cfg.meta else None
    groups: list[dict[str, Any]] = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    if metasgd is not None:  # the step sizes live in log space: their own learning rate
        groups.append({"params": list(metasgd.parameters()), "lr": cfg.step_size_lr or cfg.lr})
    optimizer = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    log = TrainLog()
    best: tuple[dict[str, Tensor], dict[str, Tensor] | None] | None = None
    bar = tqdm(range(1, cfg.steps + 1), desc="meta-train", disable=not progress, leave=False)
    running = []
    for step in bar:
        running.append(_meta_step(model, metasgd, optimizer, train, rng))
        if step % cfg.eval_every == 0 or step == cfg.steps:
            rho = _validate(model, metasgd, val, log, step, running)
            running = []
            bar.set_postfix(loss=f"{log.train_loss[-1]:.3f}", val=f"{rho:.3f}")
            if callback is not None:
                callback(step, rho)
            if not val or best is None or _better(rho, log.best_val_rho):
                log.best_step, log.best_val_rho = step, rho
                best = (
                    copy.deepcopy(model.state_dict()),
                    copy.deepcopy(metasgd.state_dict()) if metasgd else None,
                )
    if best is not None:  # the kept state
        model.load_state_dict(best[0])
        if metasgd is not None and best[1] is not None:
            metasgd.load_state_dict(best[1])
    model.eval()
    return metasgd, log
