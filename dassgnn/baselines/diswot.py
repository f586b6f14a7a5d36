r"""A DisWOT-style teacher–student similarity proxy
([Dong et al., CVPR 2023](https://arxiv.org/abs/2303.15678)): the student that
sees a batch of the task's images most like the teacher does is predicted to
distil best.

Each student starts from the teacher's weights remapped into it (``copy_first``,
as in KD here) and runs in eval mode on a batch of the task's training images.
From the last-stage feature maps $A$ of teacher and student:

- **relation** distance: $\|G_t - G_s\|_F$ between the sample-relation
  matrices $G = \mathrm{norm}(\bar A \bar A^\top)$ (rows L2-normalised, $\bar A$
  the flattened maps);
- **semantic** distance: $\|M_t - M_s\|_F$ between the Grad-CAM maps of the
  true class, $M = \mathrm{norm}\big(\mathrm{ReLU}(\sum_c w_c A_c)\big)$ with
  $w_c$ the spatial mean of $\partial z_y / \partial A_c$, each image's map
  L2-normalised.

The score is $-(d_{\text{relation}} + d_{\text{semantic}})$: higher is better.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dassgnn.baselines.zero_cost import task_batch
from dassgnn.ranking import RankingMethod, Teacher, register_ranker, task_shape
from dassgnn.space import Arch, classifier_head
from dassgnn.utils.validation import check_int, check_seed


def relation_and_cam(space: Any, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The sample-relation matrix $(N, N)$ and the true-class Grad-CAM maps
    $(N, h \\cdot w)$ of a network of ``space`` (global average pooling and a
    linear head after its last stage) on the batch."""
    feats = space.features(model.eval(), x)[-1].detach().requires_grad_(True)
    logits = classifier_head(model)(feats.mean(dim=(2, 3)))
    score = logits.gather(1, y[:, None]).sum()
    (grad,) = torch.autograd.grad(score, feats)
    flat = feats.detach().flatten(1)
    relation = F.normalize(flat @ flat.t(), dim=1)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * feats.detach()).sum(dim=1)).flatten(1)
    return relation, F.normalize(cam, dim=1)


@register_ranker("diswot")
class DisWOT(RankingMethod):
    """DisWOT-style relation and semantic similarity to the teacher (training-free;
    measured students are ignored).

    Args:
        batch_size (int, optional): Images of the task the maps are computed on. (default: `64`)
        seed (int, optional): Seeds the batch. (default: `0`)
        strategy (str, optional): The remapping strategy. (default: `"copy_first"`)
    """

    def __init__(self, batch_size: int = 64, seed: int = 0, strategy: str = "copy_first") -> None:
        self.batch_size = batch_size
        self.seed = seed
        self.strategy = strategy

    def _score(
        self, task: Any, teacher: Teacher, archs: list[Arch], measured: dict[Arch, float]
    ) -> np.ndarray:
        batch_size = check_int(self.batch_size, "batch_size", minimum=2)
        seed = check_seed(self.seed)
        k, c, _ = task_shape(task)
        x, y = task_batch(task, batch_size, seed)
        space = teacher.space
        t_rel, t_cam = relation_and_cam(space, teacher.model, x, y)
        out = []
        for arch in archs:
            student = space.remap(teacher.model, space.build(arch, k, c, seed=seed), self.strategy)
            s_rel, s_cam = relation_and_cam(space, student, x, y)
            distance = (t_rel - s_rel).norm() + (t_cam - s_cam).norm()
            out.append(-float(distance))
        return np.asarray(out, dtype=np.float64)
