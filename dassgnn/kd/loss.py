"""The knowledge-distillation loss of Hinton et al."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from dassgnn.utils.validation import check_choice, check_float


class KDLoss(nn.Module):
    r"""The knowledge-distillation loss of [Hinton et al. (2015)](https://arxiv.org/abs/1503.02531):

    $$
    \mathcal{L} = \alpha \, \mathrm{CE}(\mathbf{z}_s, y) + (1 - \alpha) \, T^2 \,
    \mathrm{KL}\big(\mathrm{softmax}(\mathbf{z}_t / T) \,\|\,
    \mathrm{softmax}(\mathbf{z}_s / T)\big)
    $$

    where $\mathbf{z}_s$ and $\mathbf{z}_t$ are the student's and the
    teacher's logits. The $T^2$ factor keeps the gradient scale of the soft
    term independent of the temperature. Without teacher logits the loss is the
    plain cross-entropy.

    Args:
        alpha (float, optional): Weight $\alpha \in [0, 1]$ of the
            cross-entropy with the labels. (default: `0.5`)
        temperature (float, optional): Softmax temperature $T > 0$.
            (default: `4.0`)
        label_smoothing (float, optional): Label smoothing of the
            cross-entropy term. (default: `0.0`)
        reduction (str, optional): ``"mean"`` over the samples (a scalar),
            ``"sum"``, or ``"none"`` (one loss per sample, and per student when
            the logits hold several students). (default: `"mean"`)

    Shapes:
        - **input:** student logits $(N, K)$ or $(N, P, K)$ for
          $P$ students trained together, labels $(N,)$, teacher
          logits $(N, K)$ (optional)
        - **output:** a scalar, or $(N)$ / $(N, P)$ with
          ``reduction="none"``
    """

    def __init__(
        self,
        alpha: float = 0.5,
        temperature: float = 4.0,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.alpha = check_float(alpha, "alpha", minimum=0, maximum=1)
        self.temperature = check_float(temperature, "temperature", minimum=0, min_open=True)
        self.label_smoothing = check_float(
            label_smoothing, "label_smoothing", minimum=0, maximum=1, max_open=True
        )
        self.reduction = check_choice(reduction, "reduction", ("mean", "sum", "none"))

    def forward(
        self, student_logits: Tensor, target: Tensor, teacher_logits: Tensor | None = None
    ) -> Tensor:
        if student_logits.dim() not in (2, 3) or target.shape != student_logits.shape[:1]:
            raise ValueError(
                f"student logits must be (N, K) or (N, P, K) with one label per sample, got "
                f"{tuple(student_logits.shape)} and labels {tuple(target.shape)}"
            )
        if teacher_logits is not None and (
            teacher_logits.shape[0] != student_logits.shape[0]
            or teacher_logits.shape[-1] != student_logits.shape[-1]
            or teacher_logits.dim() != 2
        ):
            raise ValueError(
                f"teacher logits of shape {tuple(teacher_logits.shape)} do not match the "
                f"student's {tuple(student_logits.shape)}"
            )
        if self.reduction == "mean" and student_logits.dim() == 2:
            return self._mean_loss(student_logits, target, teacher_logits)
        return self._reduce(self._per_sample(student_logits, target, teacher_logits))

    def _mean_loss(self, student: Tensor, target: Tensor, teacher: Tensor | None) -> Tensor:
        ce = F.cross_entropy(student, target, label_smoothing=self.label_smoothing)
        if teacher is None:
            return ce
        t = self.temperature
        kl = F.kl_div(
            F.log_softmax(student.float() / t, dim=-1),
            F.log_softmax(teacher.float() / t, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
        return self.alpha * ce + (1.0 - self.alpha) * t * t * kl

    def _per_sample(self, student: Tensor, target: Tensor, teacher: Tensor | None) -> Tensor:
        lead = student.shape[:-1]  # (N,) or (N, P)
        targets = target.view(-1, *([1] * (len(lead) - 1))).expand(lead).reshape(-1)
        ce = F.cross_entropy(
            student.reshape(-1, student.shape[-1]),
            targets,
            reduction="none",
            label_smoothing=self.label_smoothing,
        ).view(lead)
        if teacher is None:
            return ce
        t = self.temperature
        log_t = F.log_softmax(teacher.float() / t, dim=-1)
        if student.dim() == 3:
            log_t = log_t.unsqueeze(1)
        log_s = F.log_softmax(student.float() / t, dim=-1)
        kl = (log_t.exp() * (log_t - log_s)).sum(-1)
        return self.alpha * ce + (1.0 - self.alpha) * t * t * kl

    def _reduce(self, loss: Tensor) -> Tensor:
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        return loss.mean()

    def __repr__(self) -> str:
        extra = "" if self.reduction == "mean" else f", reduction={self.reduction!r}"
        return (
            f"{self.__class__.__name__}(alpha={self.alpha}, temperature={self.temperature}, "
            f"label_smoothing={self.label_smoothing}{extra})"
        )
