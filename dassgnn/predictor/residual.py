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
"""

from __future__ import annotations

import torch
from torch import Tensor

from dassgnn.utils.validation import check_float, check_int


class ResidualRidge:
    """The residual ridge of one support set, fitted once, applied to any number of
    candidates (in chunks: the standardisation is the measured students', so a
    candidate's correction does not depend on the others).

    Args:
        alpha (float): The ridge penalty on standardised features ($\\alpha > 0$).
        min_shots (int, optional): Measured students needed for the slope $w$; fewer get
            only the mean residual. (default: `3`)

    Shapes:
        - fit: predictions $(k,)$, targets $(k,)$, features $(k, F)$
        - correction: features $(P, F)$ to $(P,)$
    """

    def __init__(self, alpha: float, min_shots: int = 3) -> None:
        self.alpha = check_float(alpha, "alpha", minimum=0, min_open=True)
        self.min_shots = check_int(min_shots, "min_shots", minimum=2)

    def fit(self, pred: Tensor, target: Tensor, features: Tensor) -> ResidualRidge:
        """Fits the correction on the measured students' predictions, accuracies and
        simple features; returns ``self``."""
        if not (pred.shape == target.shape and features.shape[0] == pred.shape[0]):
            raise ValueError(
                f"pred {tuple(pred.shape)}, target {tuple(target.shape)} and features "
                f"{tuple(features.shape)} must describe the same students"
            )
        x = features.double()
        resid = (target - pred).double()
        self.offset_ = resid.mean() if resid.numel() else resid.new_zeros(())
        self.mean_ = x.mean(0) if len(x) else x.new_zeros(x.shape[1])
        std = x.std(0, unbiased=False) if len(x) > 1 else x.new_ones(x.shape[1])
        self.std_ = torch.where(std > 1e-8, std, torch.ones_like(std))
        self.weight_ = x.new_zeros(x.shape[1])
        if len(x) >= self.min_shots:
            z = (x - self.mean_) / self.std_
            gram = z.T @ z + self.alpha * torch.eye(z.shape[1], dtype=z.dtype)
            self.weight_ = torch.linalg.solve(gram, z.T @ (resid - self.offset_))
        return self

    def correction(self, features: Tensor) -> Tensor:
        """The amount added to the predictions of students with these features."""
        z = (features.double() - self.mean_) / self.std_
        return (self.offset_ + z @ self.weight_).to(features.dtype)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(alpha={self.alpha}, min_shots={self.min_shots})"
