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

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from dassgnn.predictor.inputs import StudentInputs, TaskContext, support_set
from dassgnn.predictor.model import DaSSPredictor, support_loss


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


def adapted(
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
