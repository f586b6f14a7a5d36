r"""A ridge on the adapted predictor's residuals over the measured students.

Meta-SGD adapts the predictor's head on the support set in a few small steps; how far the
head can move is learned on the meta-training tasks. On a task whose architecture signal
differs from every meta-training task the adapted predictor still misses what the measured
students show. The residual correction is the plain, non-meta-learned complement: a ridge
regression of the measured students' residuals $r_i = y_i - \hat y_i$ on their simple
architecture features $x_i$ ([`ARCH_FEATURES`][dassgnn.space.ARCH_FEATURES]: log
parameters and FLOPs, depth and width ratios to the teacher), standardised with the
measured students' mean $\mu$ and deviation $\sigma$, added to every prediction:

$$
\hat y'(x) = \hat y(x) + \bar r + \frac{x - \mu}{\sigma} w, \qquad
w = \left(Z^\top Z + \alpha I\right)^{-1} Z^\top (r - \bar r),
$$

with $Z$ the standardised features of the measured students. The mean residual
$\bar r$ moves every prediction by the same amount (the ranking keeps it; predicted
accuracies get the measured level); $w$ reorders the candidates. With fewer than
``min_shots`` measured students only $\bar r$ is added.

Given several penalties, the ridge chooses per task, by leave-one-out squared error on the
measured students, among them and no slope at all ($w = 0$): where the predictor's residuals
are noise it leaves the ranking alone, where they follow the features it corrects them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from dassgnn.utils.validation import check_float, check_int


class ResidualRidge:
    """The residual ridge of one support set, fitted once, applied to any number of
    candidates (in chunks: the standardisation is the measured students', so a
    candidate's correction does not depend on the others).

    Args:
        alpha (float or Sequence[float]): The ridge penalty on standardised features
            ($\\alpha > 0$); several are chosen among by leave-one-out error, with no
            slope as one more candidate.
        min_shots (int, optional): Measured students needed for the slope $w$; fewer get
            only the mean residual. (default: `3`)

    Shapes:
        - fit: predictions $(k,)$, targets $(k,)$, features $(k, F)$
        - correction: features $(P, F)$ to $(P,)$
    """

    def __init__(self, alpha: float | Sequence[float], min_shots: int = 3) -> None:
        alphas = [alpha] if isinstance(alpha, (int, float)) else list(alpha)
        if not alphas:
            raise ValueError("alpha must be a penalty or a non-empty list of them, got []")
        self.alphas = tuple(check_float(a, "alpha", minimum=0, min_open=True) for a in alphas)
        self.alpha = self.alphas[0] if len(self.alphas) == 1 else self.alphas
        self.min_shots = check_int(min_shots, "min_shots", minimum=2)

    def fit(self, pred: Tensor, target: Tensor, features: Tensor) -> ResidualRidge:
        """Fits the correction on the measured students' predictions, accuracies and
        simple features; returns ``self``. ``alpha_`` is the penalty used (`None`: no
        slope)."""
        if not (pred.shape == target.shape and features.shape[0] == pred.shape[0]):
            raise ValueError(
                f"pred {tuple(pred.shape)}, target {tuple(target.shape)} and features "
                f"{tuple(features.shape)} must describe the same students"
            )
        x = features.double()
        resid = (target - pred).double()
        self.alpha_: float | None = None
        if len(x) >= self.min_shots:
            self.alpha_ = self.alphas[0]
            if len(self.alphas) > 1:
                self.alpha_ = _leave_one_out(x, resid, self.alphas, self.min_shots)
        self.offset_, self.mean_, self.std_, self.weight_ = _solve(x, resid, self.alpha_)
        return self

    def correction(self, features: Tensor) -> Tensor:
        """The amount added to the predictions of students with these features."""
        z = (features.double() - self.mean_) / self.std_
        return (self.offset_ + z @ self.weight_).to(features.dtype)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(alpha={self.alpha}, min_shots={self.min_shots})"


def residual_ridge(config: Any) -> ResidualRidge | None:
    """The residual ridge a [`PredictorConfig`][dassgnn.predictor.PredictorConfig] asks
    for (``residual_alphas``, else ``residual_alpha``), or `None`."""
    if config.residual_alphas:
        return ResidualRidge(config.residual_alphas)
    return ResidualRidge(config.residual_alpha) if config.residual_alpha > 0 else None


def _solve(x: Tensor, resid: Tensor, alpha: float | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Offset, feature mean and deviation, and slope of one ridge (no slope for `None`)."""
    offset = resid.mean() if resid.numel() else resid.new_zeros(())
    mean = x.mean(0) if len(x) else x.new_zeros(x.shape[1])
    std = x.std(0, unbiased=False) if len(x) > 1 else x.new_ones(x.shape[1])
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    weight = x.new_zeros(x.shape[1])
    if alpha is not None:
        z = (x - mean) / std
        gram = z.T @ z + alpha * torch.eye(z.shape[1], dtype=z.dtype)
        weight = torch.linalg.solve(gram, z.T @ (resid - offset))
    return offset, mean, std, weight


def _leave_one_out(
    x: Tensor, resid: Tensor, alphas: Sequence[float], min_shots: int
) -> float | None:
    """The candidate (a penalty, or `None` for no slope) of least leave-one-out squared
    error; no slope wins ties."""
    best: float | None = None
    best_err = float("inf")
    for alpha in (None, *alphas):
        err = 0.0
        for i in range(len(x)):
            keep = [j for j in range(len(x)) if j != i]
            use = alpha if len(keep) >= min_shots else None
            offset, mean, std, weight = _solve(x[keep], resid[keep], use)
            err += float((offset + ((x[i] - mean) / std) @ weight - resid[i]) ** 2)
        if err < best_err - 1e-12:
            best, best_err = alpha, err
    return best
