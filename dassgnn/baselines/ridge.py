r"""A few-shot baseline that is not meta-learned: a ridge regression on simple
architecture features, fitted on the students the user measured.

With $k$ measured students $(\mathbf{x}_j, a_j)$, where $\mathbf{x}_j$ are the
eight features of [`arch_features()`][dassgnn.space.BaseSpace.arch_features] (log
parameters and log FLOPs relative to the teacher; depth and width of the first, middle
and last stage relative to the teacher's), standardised with the measured
students' mean and standard deviation, the weights are

$$
\hat{\mathbf{w}} = \arg\min_{\mathbf{w}, b} \sum_{j=1}^{k}
\big(a_j - b - \mathbf{w}^\top \mathbf{x}_j\big)^2 + \lambda \|\mathbf{w}\|^2,
$$

and a candidate's score is its predicted accuracy $b + \hat{\mathbf{w}}^\top
\mathbf{x}$. Nothing is learned from other tasks: this is the bar a meta-learned
few-shot predictor must clear at the same $k$. With fewer than two measured
students (nothing to fit) it ranks by parameter count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from dassgnn.ranking import RankingMethod, Teacher, register_ranker, task_shape
from dassgnn.space import Arch
from dassgnn.utils.validation import check_float


def ridge_features(task: Any, teacher: Teacher, archs: list[Arch]) -> np.ndarray:
    """The eight simple features of ``archs`` on ``task``
    ([`arch_features()`][dassgnn.space.BaseSpace.arch_features]), $(n, 8)$."""
    k, c, size = task_shape(task)
    return teacher.space.arch_features(archs, k, c, size)


@register_ranker("ridge")
class RidgeRanker(RankingMethod):
    """Ridge regression on simple architecture features, fitted on the measured
    students only (see the module's text); training-free (``fit`` is a no-op).
    Without at least two measured students it ranks by parameter count.

    Args:
        alpha (float, optional): The ridge penalty $\\lambda$ on standardised
            features. (default: `1.0`)
    """

    uses_measured = True

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def _score(
        self, task: Any, teacher: Teacher, archs: list[Arch], measured: dict[Arch, float]
    ) -> np.ndarray:
        alpha = check_float(self.alpha, "alpha", minimum=0)
        x = ridge_features(task, teacher, archs)
        if len(measured) < 2:
            k, c, _ = task_shape(task)
            return np.array([teacher.space.params(a, k, c) for a in archs], dtype=np.float64)
        shots = list(measured)
        x_shots = ridge_features(task, teacher, shots)
        y = np.array([measured[a] for a in shots], dtype=np.float64)
        scaler = StandardScaler().fit(x_shots)
        model = Ridge(alpha=alpha).fit(scaler.transform(x_shots), y)
        return np.asarray(model.predict(scaler.transform(x)), dtype=np.float64)
