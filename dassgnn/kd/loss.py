"""The knowledge-distillation loss of Hinton et al."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class KDLoss(nn.Module):
    r"""The knowledge-distillation loss of `Hinton et al. (2015)
    <https://arxiv.org/abs/1503.02531>`_:

    .. math::
        \mathcal{L} = \alpha \, \mathrm{CE}(\mathbf{z}_s, y) + (1 - \alpha) \, T^2 \,
        \mathrm{KL}\big(\mathrm{softmax}(\mathbf{z}_t / T) \,\|\,
        \mathrm{softmax}(\mathbf{z}_s / T)\big)

    where :math:`\mathbf{z}_s` and :math:`\mathbf{z}_t` are the student's and the
    teacher's logits. The :math:`T^2` factor keeps the gradient scale of the soft
    term independent of the temperature. Without teacher logits the loss is the
    plain cross-entropy.

    Args:
        alpha (float, optional): Weight :math:`\alpha \in [0, 1]` of the
            cross-entropy with the labels. (default: :obj:`0.5`)
        temperature (float, optional): Softmax temperature :math:`T > 0`.
            (default: :obj:`4.0`)
        label_smoothing (float, optional): Label smoothing of the
            cross-entropy term. (default: :obj:`0.0`)

    Shapes:
        - **input:** student logits :math:`(N, K)`, labels :math:`(N,)`,
          teacher logits :math:`(N, K)` (optional)
        - **output:** scalar
    """

    def __init__(
        self, alpha: float = 0.5, temperature: float = 4.0, label_smoothing: float = 0.0
    ) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing!r}")
        self.alpha = alpha
        self.temperature = temperature
        self.label_smoothing = label_smoothing

    def forward(
        self, student_logits: Tensor, target: Tensor, teacher_logits: Tensor | None = None
    ) -> Tensor:
        ce = F.cross_entropy(student_logits, target, label_smoothing=self.label_smoothing)
        if teacher_logits is None:
            return ce
        if teacher_logits.shape != student_logits.shape:
            raise ValueError(
                f"teacher logits of shape {tuple(teacher_logits.shape)} do not match the "
                f"student's {tuple(student_logits.shape)}"
            )
        t = self.temperature
        kl = F.kl_div(
            F.log_softmax(student_logits.float() / t, dim=-1),
            F.log_softmax(teacher_logits.float() / t, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
        return self.alpha * ce + (1.0 - self.alpha) * t * t * kl

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(alpha={self.alpha}, temperature={self.temperature}, "
            f"label_smoothing={self.label_smoothing})"
        )
