r"""Meta-SGD with teacher-guided, few-shot adaptation, and the plain (pooled) fit it is
compared with.

Meta-SGD ([Li et al., 2017](https://arxiv.org/abs/1707.09835)) learns, beside the
initial parameters $\phi$ of the size prior and the fusion head, one step size per
parameter $\boldsymbol\alpha$: on a task, they take ``inner_steps`` steps

$$
\phi' = \phi - \boldsymbol\alpha \odot \nabla_\phi
\mathcal{L}_{\text{support}}(\phi),
$$

where the support set is the teacher itself (its graph, its own functional map, its
measured accuracy: DaSS's teacher-guided adaptation) followed by the $k$ students
measured on the task, and $\mathcal{L}_{\text{support}}$ is
[`support_loss`][dassgnn.predictor.model.support_loss] (the teacher keeps its weight
whatever $k$). In meta-training, $k$ is drawn from ``config.shots`` for every episode,
the support students carry the accuracy of one KD seed (as a user measures them) and
the query is drawn from the other students, labelled with their seed-mean accuracy; the
outer loss on the query is back-propagated through the inner steps (or not, with
``first_order``) into $\phi$, $\boldsymbol\alpha$ and the encoders. Validation scores
the same way, on the students outside the support set.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from dassgnn.metrics import spearman, support_draws
from dassgnn.predictor.inputs import StudentInputs, TaskContext, support_set
from dassgnn.predictor.model import DaSSPredictor, prediction_loss, support_loss


def _key(name: str) -> str:
    return name.replace(".", "__")


class MetaSGD(nn.Module):
    """The learned per-parameter inner step sizes of a predictor's adapted
    parameters (stored as logarithms, so they stay positive), and the inner loop.

    Args:
        model (DaSSPredictor): The predictor whose prior and head are adapted.
        init_lr (float, optional): The initial step size of every parameter (on the support
            loss, in accuracy points squared). (default: `0.001`)
    """

    def __init__(self, model: DaSSPredictor, init_lr: float = 0.001) -> None:
        super().__init__()
        self.init_lr = init_lr
        self.log_lr = nn.ParameterDict(
            {
                _key(n): nn.Parameter(torch.full_like(p, math.log(init_lr)))
                for n, p in model.adapted_parameters().items()
            }
        )

    def adapt(
        self,
        model: DaSSPredictor,
        task: Tensor,
        support: Tensor,
        simple: Tensor,
        targets: Tensor,
        *,
        steps: int = 1,
        create_graph: bool = False,
    ) -> dict[str, Tensor]:
        """The adapted parameters after ``steps`` inner steps on a support set.

        Args:
            model (DaSSPredictor): The predictor.
            task (Tensor): Its task embedding.
            support (Tensor): $(S, \\cdot)$ the support rows' student embeddings (the
                teacher's first).
            simple (Tensor): $(S, 8)$ their simple features.
            targets (Tensor): $(S,)$ their measured accuracies.
            steps (int, optional): Inner steps. (default: `1`)
            create_graph (bool, optional): Keep the graph for second-order
                meta-gradients. (default: `False`)

        Returns:
            dict[str, Tensor]: Adapted parameters by name.
        """
        params = model.adapted_parameters()
        for _ in range(steps):
            pred = model.fuse(task, support, simple, params)
            loss = support_loss(pred, targets, model.config)
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
    """One task of meta-training or evaluation.

    Attributes:
        context (TaskContext): The task's context.
        students (StudentInputs): Its measured students, labelled with their seed-mean
            accuracy.
        teacher (StudentInputs): The teacher's row (the first of every support set).
        runs (Tensor): $(B, S)$ the students' accuracy under each of the task's $S$ KD
            seeds, in seed order (NaN where a seed is missing); support students carry
            one of these.
        reliability (float): The seed-mean label's reliability (NaN with one seed).
    """

    context: TaskContext
    students: StudentInputs
    teacher: StudentInputs
    runs: Tensor
    reliability: float = float("nan")

    @property
    def key(self) -> str:
        """The task's key."""
        return self.context.key

    def shot_accuracies(
        self, shots: np.ndarray, seed_column: int | None = 0, rng: np.random.Generator | None = None
    ) -> Tensor:
        """The accuracies that support students ``shots`` carry: one KD seed's, as a user
        measures them.

        Args:
            shots (np.ndarray): The students' indices.
            seed_column (int, optional): Which seed (a column of ``runs``; the first
                measured one where it is missing); `None` draws a seed a student with
                ``rng``. (default: `0`)
            rng (np.random.Generator, optional): The draw of seeds.
        """
        accs = []
        for i in shots:
            row = self.runs[int(i)]
            seen = torch.nonzero(~torch.isnan(row)).view(-1)
            if seed_column is None:
                assert rng is not None
                column = int(seen[rng.integers(len(seen))])
            elif seed_column < len(row) and not torch.isnan(row[seed_column]):
                column = seed_column
            else:
                column = int(seen[0])
            accs.append(float(row[column]))
        return torch.tensor(accs, dtype=torch.float32)

    def support(self, shots: np.ndarray, accs: Tensor) -> StudentInputs:
        """The support set of the students ``shots`` with accuracies ``accs``."""
        return support_set(self.teacher, self.students.subset(shots).with_targets(accs))


def _adapted(
    model: DaSSPredictor,
    metasgd: MetaSGD,
    task: Tensor,
    teacher: StudentInputs,
    teacher_emb: Tensor,
    shot_emb: Tensor,
    shot_simple: Tensor,
    accs: Tensor,
    create_graph: bool,
) -> dict[str, Tensor]:
    """Adapts on the support set made of the teacher's row and embedded shot students."""
    assert teacher.targets is not None
    return metasgd.adapt(
        model,
        task,
        torch.cat([teacher_emb, shot_emb]),
        torch.cat([teacher.simple, shot_simple]),
        torch.cat([teacher.targets, accs]),
        steps=model.config.inner_steps,
        create_graph=create_graph,
    )


def predict(
    model: DaSSPredictor,
    metasgd: MetaSGD | None,
    context: TaskContext,
    students: StudentInputs,
    support: StudentInputs | None = None,
    *,
    params: dict[str, Tensor] | None = None,
) -> Tensor:
    """Predicted accuracies of ``students``: adapted on ``support`` (see
    [`support_set`][dassgnn.predictor.inputs.support_set]) when a Meta-SGD module is given,
    or with parameters adapted before (``params``, e.g. from `adapt_on`)."""
    task = model.embed_task(context)
    if params is None and metasgd is not None and support is not None:
        params = adapt_on(model, metasgd, context, support, task=task)
    return model.fuse(task, model.embed_students(context, students), students.simple, params)


def adapt_on(
    model: DaSSPredictor,
    metasgd: MetaSGD,
    context: TaskContext,
    support: StudentInputs,
    *,
    task: Tensor | None = None,
) -> dict[str, Tensor]:
    """The parameters adapted on a support set (detached: for prediction)."""
    assert support.targets is not None
    with torch.enable_grad():
        task = model.embed_task(context) if task is None else task
        params = metasgd.adapt(
            model,
            task,
            model.embed_students(context, support),
            support.simple,
            support.targets,
            steps=model.config.inner_steps,
        )
    return {n: p.detach() for n, p in params.items()}


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
                        params = _adapted(
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
                    pred = model.fuse(task, student_emb[idx], ep.students.simple[idx], params)
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
        params = _adapted(
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
    the state with the best [`validation_score`][dassgnn.predictor.metasgd.validation_score]
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
