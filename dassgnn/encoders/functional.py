r"""Functional embeddings: what a network computes on a fixed noise input.

The teacher, and every student with the teacher's weights remapped into it,
run on the same fixed noise batch ([`NoiseSpec`][dassgnn.encoders.NoiseSpec],
a versioned constant stored in the predictor's checkpoint). Their last-stage
feature maps are summarised by the $N \times N$ Gram matrix of cosine
similarities between the $N$ noise images,

$$
G_{ij} = \frac{\langle \mathbf{f}_i, \mathbf{f}_j \rangle}{\|\mathbf{f}_i\| \, \|\mathbf{f}_j\|},
$$

which does not depend on the number of channels, so that teachers and students
of every width and every space compare directly (the relation maps of DisWOT,
[Dong et al., 2023](https://arxiv.org/abs/2303.15678)). A small conv encoder
([`GramEncoder`][dassgnn.encoders.GramEncoder]) turns a Gram matrix into a vector.

With ``copy_first`` remapping a student is the teacher with channels and blocks
masked, so for spaces with ``student_features`` many students' maps come from one
masked pass of the teacher's own layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dassgnn.space import Arch, SearchSpace, classifier_shape
from dassgnn.utils.validation import check_int, check_seed


@dataclass(frozen=True)
class NoiseSpec:
    """The fixed noise input of the functional embeddings: ``num`` standard-normal
    images of ``size`` × ``size`` drawn from ``seed``.

    Args:
        seed (int, optional): Seed of the draw. (default: `0`)
        num (int, optional): Images. (default: `16`)
        size (int, optional): Height and width. (default: `16`)
        version (int, optional): Bumped whenever the maps it gives change. (default: `1`)
    """

    seed: int = 0
    num: int = 16
    size: int = 16
    version: int = 1

    def __post_init__(self) -> None:
        check_seed(self.seed)
        check_int(self.num, "num", minimum=2)
        check_int(self.size, "size", minimum=1)
        check_int(self.version, "version", minimum=1)

    def make(self, channels: int) -> Tensor:
        """The noise batch $(\\text{num}, \\text{channels}, \\text{size}, \\text{size})$."""
        g = torch.Generator().manual_seed(self.seed)
        return torch.randn(self.num, channels, self.size, self.size, generator=g)

    def to_dict(self) -> dict[str, int]:
        """JSON-ready fields (the source of the cached embeddings)."""
        return {"seed": self.seed, "num": self.num, "size": self.size, "version": self.version}


def gram(features: Tensor) -> Tensor:
    """Cosine-similarity Gram matrices of feature maps.

    Args:
        features (Tensor): $(N, C, h, w)$ maps of one network, or
            $(N, P, C, h, w)$ of $P$ networks.

    Returns:
        Tensor: $(N, N)$, or $(P, N, N)$.
    """
    if features.dim() == 4:
        flat = F.normalize(features.flatten(1), dim=-1)
        return flat @ flat.t()
    if features.dim() == 5:
        flat = F.normalize(features.flatten(2).transpose(0, 1), dim=-1)  # (P, N, D)
        return flat @ flat.transpose(1, 2)
    raise ValueError(f"features must be (N, C, h, w) or (N, P, C, h, w), got {features.shape}")


@torch.no_grad()
def functional_maps(
    space: SearchSpace,
    teacher: nn.Module,
    archs: Sequence[Arch],
    noise: NoiseSpec,
    *,
    chunk: int = 256,
    batched: bool | None = None,
) -> Tensor:
    """The Gram matrices of students with the teacher's weights remapped
    ``copy_first`` into them, on the noise batch (in eval mode: BatchNorm uses
    the teacher's running statistics).

    Args:
        space (SearchSpace): The teacher's space.
        teacher (nn.Module): The trained teacher.
        archs (Sequence[Arch]): The students (``space.teacher`` gives the teacher's own map).
        noise (NoiseSpec): The noise input.
        chunk (int, optional): Students a batched pass. (default: `256`)
        batched (bool, optional): Compute many students at once: with the space's
            ``student_features`` (one masked pass of the teacher's own layers, the
            fastest on a CPU) or else its ``build_batched`` networks; `None` does
            so where the space has either.

    Returns:
        Tensor: $(P, N, N)$ float32 on the CPU.
    """
    chunk = check_int(chunk, "chunk", minimum=1)
    teacher = teacher.eval()
    device = next(teacher.parameters()).device
    channels, k = classifier_shape(teacher)
    x = noise.make(channels).to(device)
    archs = list(archs)
    if not archs:
        return torch.empty(0, noise.num, noise.num)
    masked = getattr(space, "student_features", None)
    grouped = getattr(space, "build_batched", None)
    use_batched = (masked is not None or grouped is not None) if batched is None else batched
    out = []
    if use_batched and masked is not None:
        for start in range(0, len(archs), chunk):
            feats = masked(teacher, archs[start : start + chunk], x)  # (P, N, C, h, w)
            out.append(gram(feats.transpose(0, 1)).float().cpu())
    elif use_batched:
        state = {n: t.detach().cpu() for n, t in teacher.state_dict().items()}
        for start in range(0, len(archs), chunk):
            part = archs[start : start + chunk]
            model: Any = space.build_batched(part, k, channels)  # type: ignore[attr-defined]
            model.load_teacher(state)
            model.to(device).eval()
            out.append(gram(model.last_features(x)).float().cpu())
    else:
        for arch in archs:
            student = space.remap(teacher, space.build(arch, k, channels).to(device))
            out.append(gram(space.features(student.eval(), x)[-1]).float().cpu()[None])
    return torch.cat(out)


class GramEncoder(nn.Module):
    r"""A small conv encoder of $N \times N$ Gram matrices: two 3×3 convolutions
    (the second with stride 2), global average and max pooling, a linear layer.

    Args:
        out_channels (int, optional): Embedding size. (default: `32`)
        hidden_channels (int, optional): Conv width. (default: `16`)

    Shapes:
        - **input:** $(B, N, N)$
        - **output:** $(B, \text{out})$
    """

    def __init__(self, out_channels: int = 32, hidden_channels: int = 16) -> None:
        super().__init__()
        self.out_channels = check_int(out_channels, "out_channels", minimum=1)
        self.hidden_channels = check_int(hidden_channels, "hidden_channels", minimum=1)
        h = self.hidden_channels
        self.conv1 = nn.Conv2d(1, h, 3, 1, 1)
        self.conv2 = nn.Conv2d(h, 2 * h, 3, 2, 1)
        self.out = nn.Linear(4 * h, self.out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises the layers."""
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()
        self.out.reset_parameters()

    def forward(self, grams: Tensor) -> Tensor:
        x = F.relu(self.conv1(grams.unsqueeze(1)))
        x = F.relu(self.conv2(x))
        return self.out(torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=-1))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(1, {self.out_channels})"


def gram_similarity(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of Gram matrices $(B, N, N)$ against $(B, N, N)$ or $(N, N)$:
    $(B,)$, 1 for identical relations."""
    if b.dim() == 2:
        b = b.expand_as(a)
    return F.cosine_similarity(a.flatten(1), b.flatten(1), dim=-1)
