"""Many students of a [`ResNetSpace`][dassgnn.space.ResNetSpace] as one network.

A student of a [`ResNetSpace`][dassgnn.space.ResNetSpace] is the teacher with some
channels and blocks switched off. `BatchedResNet` holds $P$
teacher-shaped copies side by side as grouped convolutions (``groups=P``),
with a channel mask per block and a block mask per student: masked channels
are zeroed after BatchNorm, so convolutions, shortcuts (zero-pad, drop, max-pool)
and the classifier see exactly the student's channels, and a switched-off
block passes its input through. Loaded from the teacher, every student
starts exactly as with ``copy_first`` remapping. The batched trainer
([`train_batched()`][dassgnn.kd.train_batched]) trains them together; on a GPU this
trades FLOPs (every student runs at teacher size) for far fewer, larger kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dassgnn.space.arch import Arch

if TYPE_CHECKING:
    from dassgnn.space.resnet import ResNetSpace


class _GroupedBlock(nn.Module):
    """The two convolutions of one teacher block for $P$ students (``groups=P``)."""

    def __init__(self, p: int, c_in: int, width: int, stride: int, stage: int, index: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(p * c_in, p * width, 3, stride, 1, groups=p, bias=False)
        self.bn1 = nn.BatchNorm2d(p * width)
        self.conv2 = nn.Conv2d(p * width, p * width, 3, 1, 1, groups=p, bias=False)
        self.bn2 = nn.BatchNorm2d(p * width)
        self.spec = (stage, index, c_in, width, stride)


class BatchedResNet(nn.Module):
    r"""$P$ students of a [`ResNetSpace`][dassgnn.space.ResNetSpace] as one network.

    Args:
        space (ResNetSpace): The space; every student is stored at its teacher's shape.
        archs (Sequence[Arch]): The $P$ students.
        num_classes (int): Output classes.
        in_channels (int, optional): Image channels. (default: `3`)

    Shapes:
        - **input:** $(N, C_{img}, H, W)$, shared by all students
        - **output:** $(N, P, K)$ logits
    """

    stem_mask: Tensor
    masks: Tensor
    active: Tensor

    def __init__(
        self, space: ResNetSpace, archs: Sequence[Arch], num_classes: int, in_channels: int = 3
    ) -> None:
        super().__init__()
        if not archs:
            raise ValueError("archs must hold at least one student")
        self.space = space
        self.archs = [space.check(a) for a in archs]
        self.num_students = p = len(archs)
        self.num_classes = num_classes
        self.in_channels = in_channels
        widths, depths, strides = space.widths, space.depths, space.strides
        self.stem = nn.Conv2d(in_channels, p * widths[0], 3, 1, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(p * widths[0])
        self.blocks = nn.ModuleList()  # of _GroupedBlock
        prev = widths[0]
        for s, (w, d) in enumerate(zip(widths, depths, strict=True)):
            for b in range(d):
                stride = strides[s] if b == 0 else 1
                self.blocks.append(_GroupedBlock(p, prev, w, stride, s, b))
                prev = w
        self.fc_weight = nn.Parameter(torch.empty(p, num_classes, prev))
        self.fc_bias = nn.Parameter(torch.empty(p, num_classes))
        stem_mask, masks, active = self._masks()
        self.register_buffer("stem_mask", stem_mask)
        self.register_buffer("masks", masks)
        self.register_buffer("active", active)
        self.reset_parameters()

    def grouped_blocks(self) -> list[_GroupedBlock]:
        """The teacher's blocks, in order, each holding the $P$ students' convolutions."""
        return [cast(_GroupedBlock, block) for block in self.blocks]

    def _masks(self) -> tuple[Tensor, Tensor, Tensor]:
        space, p = self.space, self.num_students
        wmax = max(space.widths)
        masks = torch.zeros(len(self.blocks), p, wmax)
        active = torch.zeros(len(self.blocks), p)
        stem = torch.zeros(p, space.widths[0])
        for i, arch in enumerate(self.archs):
            channels = space.channels(arch)
            stem[i, : channels[0][0]] = 1
            for j, block in enumerate(self.grouped_blocks()):
                s, b = block.spec[:2]
                if b < len(channels[s]):
                    masks[j, i, : channels[s][b]] = 1
                    active[j, i] = 1
        return stem.flatten(), masks, active

    def reset_parameters(self) -> None:
        """Random initial weights (teacher-shaped Kaiming, as the teacher's own)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
        bound = 1 / self.fc_weight.shape[-1] ** 0.5
        nn.init.uniform_(self.fc_weight, -bound, bound)
        nn.init.uniform_(self.fc_bias, -bound, bound)

    @torch.no_grad()
    def load_teacher(self, state: dict[str, Tensor]) -> BatchedResNet:
        """Copies a teacher's state dict (a [`ResNet`][dassgnn.space.ResNet] of the
        space's teacher) into every student: ``copy_first`` remapping."""
        p = self.num_students

        def tile(t: Tensor) -> Tensor:
            return t.repeat(p, *([1] * (t.dim() - 1))) if t.dim() else t

        self.stem.weight.copy_(tile(state["stem.conv.weight"]))
        _copy_bn(self.stem_bn, state, "stem.bn", tile)
        for block in self.grouped_blocks():
            s, b = block.spec[:2]
            prefix = f"stages.{s}.{b}"
            block.conv1.weight.copy_(tile(state[f"{prefix}.conv1.weight"]))
            block.conv2.weight.copy_(tile(state[f"{prefix}.conv2.weight"]))
            _copy_bn(block.bn1, state, f"{prefix}.bn1", tile)
            _copy_bn(block.bn2, state, f"{prefix}.bn2", tile)
        self.fc_weight.copy_(state["fc.weight"].expand(p, -1, -1))
        self.fc_bias.copy_(state["fc.bias"].expand(p, -1))
        return self

    def _trunk(self, x: Tensor) -> Tensor:
        p = self.num_students
        h = F.relu(self.stem_bn(self.stem(x))) * self.stem_mask.view(1, -1, 1, 1)
        for j, block in enumerate(self.grouped_blocks()):
            _, b, c_in, w, stride = block.spec
            mask = self.masks[j, :, :w].reshape(1, -1, 1, 1)
            out = F.relu(block.bn1(block.conv1(h))) * mask
            out = block.bn2(block.conv2(out)) * mask
            skip = h
            if stride > 1:
                skip = F.max_pool2d(skip, stride, stride, ceil_mode=True)
            if w != c_in:
                n, _, hh, ww = skip.shape
                skip = skip.view(n, p, c_in, hh, ww)
                skip = F.pad(skip, (0, 0, 0, 0, 0, w - c_in)) if w > c_in else skip[:, :, :w]
                skip = skip.reshape(n, p * w, hh, ww)
            out = F.relu(out + skip * mask)
            if b > 0:  # first blocks are always active
                keep = self.active[j].view(1, p, 1, 1, 1)
                n, _, hh, ww = out.shape
                out = torch.lerp(h.view(n, p, w, hh, ww), out.view(n, p, w, hh, ww), keep)
                out = out.view(n, p * w, hh, ww)
            h = out
        return h

    def last_features(self, x: Tensor) -> Tensor:
        """Every student's last-stage feature map; channels beyond a student's
        width are zero.

        Shapes:
            - **input:** $(N, C_{img}, H, W)$
            - **output:** $(N, P, C_{last}, h, w)$ with $C_{last}$ the teacher's last width
        """
        h = self._trunk(x)
        return h.view(h.shape[0], self.num_students, -1, *h.shape[2:])

    def forward(self, x: Tensor) -> Tensor:
        h = self._trunk(x)
        p = self.num_students
        feats = h.mean(dim=(2, 3)).view(h.shape[0], p, -1)
        return torch.einsum("npc,pkc->npk", feats, self.fc_weight) + self.fc_bias

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(students={self.num_students}, "
            f"num_classes={self.num_classes}, space={self.space!r})"
        )


def _copy_bn(
    bn: nn.BatchNorm2d, state: dict[str, Tensor], prefix: str, tile: Callable[[Tensor], Tensor]
) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(bn, name).copy_(tile(state[f"{prefix}.{name}"]))


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """The weight and bias of ``conv`` followed by ``bn`` in eval mode, as one convolution."""
    assert bn.running_mean is not None and bn.running_var is not None
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return conv.weight * scale[:, None, None, None], bias


@torch.no_grad()
def masked_student_features(
    space: ResNetSpace, teacher: nn.Module, archs: Sequence[Arch], x: Tensor
) -> Tensor:
    r"""The last-stage feature maps of many students with the teacher's weights
    remapped ``copy_first``, in eval mode, from one pass of the teacher's own
    layers.

    A ``copy_first`` student keeps the first channels of every teacher tensor,
    so with zeros in its absent input channels the teacher's convolution gives
    the student's outputs on its first channels: the students ride in the batch
    dimension, share the teacher's weights (BatchNorm folded into them) and are
    cut to their widths by a channel mask after every layer (a switched-off
    block passes its input through). The first stage depends only on the
    student's first-stage choices, so it runs once for each distinct one. One
    plain convolution on $P \cdot N$ images is much faster on a CPU than $P$
    small networks or grouped convolutions.

    Args:
        space (ResNetSpace): The space.
        teacher (ResNet): The trained teacher, built by ``space``.
        archs (Sequence[Arch]): The $P$ students.
        x (Tensor): Inputs $(N, C_{img}, H, W)$.

    Returns:
        Tensor: $(P, N, C_{last}, h, w)$, zero beyond each student's width.
    """
    from dassgnn.space.modules import BasicBlock, ResNet

    if not isinstance(teacher, ResNet):
        raise TypeError(f"teacher must be a ResNet of {space!r}, got {type(teacher).__name__}")
    teacher = teacher.eval()
    channels = [space.channels(a) for a in archs]
    n, device = x.shape[0], x.device

    def mask(width: int, sizes: list[int]) -> Tensor:
        m = torch.arange(width, device=device)[None] < torch.tensor(sizes, device=device)[:, None]
        return m.to(x.dtype).repeat_interleave(n, dim=0)[:, :, None, None]  # (P*N, width, 1, 1)

    def run_stage(h: Tensor, s: int, stage_channels: list[tuple[int, ...]]) -> Tensor:
        depth = [len(c) for c in stage_channels]
        for b, block in enumerate(cast(nn.Sequential, teacher.stages[s])):
            assert isinstance(block, BasicBlock)
            width = [c[min(b, d - 1)] for c, d in zip(stage_channels, depth, strict=True)]
            m = mask(block.out_channels, width)
            w1, b1 = _folded(block.conv1, block.bn1)
            w2, b2 = _folded(block.conv2, block.bn2)
            out = F.conv2d(h, w1, b1, block.conv1.stride, 1).relu_().mul_(m)
            out = F.conv2d(out, w2, b2, 1, 1).mul_(m)
            out = out.addcmul_(block.shortcut(h), m).relu_()
            if b > 0:
                keep = torch.tensor([b < d for d in depth], device=device)
                out = torch.where(keep.repeat_interleave(n)[:, None, None, None], out, h)
            h = out
        return h

    firsts = list(dict.fromkeys(c[0] for c in channels))  # distinct first stages
    which = torch.tensor([firsts.index(c[0]) for c in channels], device=device)
    w, bias = _folded(teacher.stem_conv, teacher.stem_bn)
    stem = F.conv2d(x, w, bias, 1, 1).relu_()
    h = stem.repeat(len(firsts), 1, 1, 1) * mask(stem.shape[1], [c[0] for c in firsts])
    h = run_stage(h, 0, firsts)
    h = h.view(len(firsts), n, *h.shape[1:])[which].flatten(0, 1)
    for s in range(1, len(teacher.stages)):
        h = run_stage(h, s, [c[s] for c in channels])
    return h.view(len(channels), n, *h.shape[1:])
