r"""The modules of [`TorchvisionResNetSpace`][dassgnn.space.TorchvisionResNetSpace]:
torchvision's BasicBlock and ResNet with its tensor names (``conv1``, ``bn1``,
``layer1.0.conv1``, ``layer2.0.downsample.0``, ``fc``, ...), so that the state dict of a
torchvision ResNet-18 or ResNet-34 loads into them without torchvision, and the masked pass
that gives many students' feature maps at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dassgnn.space.arch import Arch
from dassgnn.space.modules import ChannelShortcut

if TYPE_CHECKING:
    from dassgnn.space.torchvision import TorchvisionResNetSpace

BlockSpec = tuple[int, int, int, bool]
"""``(in_channels, out_channels, stride, downsample)`` of one block."""


class TVBasicBlock(nn.Module):
    r"""torchvision's ``BasicBlock``: two $3 \times 3$ convolutions with BN, and a
    shortcut that is a $1 \times 1$ convolution with BN (``downsample``) where the
    teacher's block changes the width or the resolution. A student block without
    ``downsample`` whose width differs from its input's uses the parameter-free
    [`ChannelShortcut`][dassgnn.space.ChannelShortcut] (zero-pad or drop channels).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels of both convolutions.
        stride (int, optional): Stride of the first convolution. (default: `1`)
        downsample (bool, optional): A $1 \times 1$ convolution + BN shortcut. (default: `False`)
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, downsample: bool = False
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Sequential | None = None
        self.shortcut: ChannelShortcut | None = None
        if downsample:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = ChannelShortcut(in_channels, out_channels, stride)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal convolutions (fan-out), unit BN scale, zero BN shift (torchvision's)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()

    def skip(self, x: Tensor) -> Tensor:
        """The shortcut branch."""
        if self.downsample is not None:
            return self.downsample(x)
        assert self.shortcut is not None
        return self.shortcut(x)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.skip(x))

    def __repr__(self) -> str:
        ds = ", downsample" if self.downsample is not None else ""
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"stride={self.stride}{ds})"
        )


class TVResNet(nn.Module):
    r"""A ResNet of [`TVBasicBlock`][dassgnn.space.TVBasicBlock] layers with torchvision's
    tensor names ([He et al., 2016](https://arxiv.org/abs/1512.03385)): a stem
    (``conv1`` $k \times k$ of stride $s$, ``bn1``, ReLU, and a $3 \times 3$ max pool of
    stride 2 unless ``stem_pool`` is off), ``layer1`` ... ``layerL``, global average pooling
    and ``fc``. Built by
    [`TorchvisionResNetSpace.build()`][dassgnn.space.TorchvisionResNetSpace.build].

    Args:
        blocks (Sequence[Sequence[BlockSpec]]): Per layer, ``(in, out, stride, downsample)``
            of every block.
        stem_width (int): Output channels of ``conv1``.
        num_classes (int): Output classes.
        in_channels (int, optional): Image channels. (default: `3`)
        stem_kernel (int, optional): Kernel of ``conv1``. (default: `7`)
        stem_stride (int, optional): Stride of ``conv1``. (default: `2`)
        stem_pool (bool, optional): The max pool after the stem. (default: `True`)

    Shapes:
        - **input:** $(N, C_{img}, H, W)$
        - **output:** $(N, K)$ logits
    """

    def __init__(
        self,
        blocks: Sequence[Sequence[BlockSpec]],
        stem_width: int,
        num_classes: int,
        in_channels: int = 3,
        stem_kernel: int = 7,
        stem_stride: int = 2,
        stem_pool: bool = True,
    ) -> None:
        super().__init__()
        self.blocks_spec = tuple(tuple(layer) for layer in blocks)
        self.num_classes, self.in_channels = num_classes, in_channels
        pad = stem_kernel // 2
        self.conv1 = nn.Conv2d(in_channels, stem_width, stem_kernel, stem_stride, pad, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1) if stem_pool else nn.Identity()
        for i, layer in enumerate(self.blocks_spec):
            self.add_module(f"layer{i + 1}", nn.Sequential(*(TVBasicBlock(*b) for b in layer)))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.blocks_spec[-1][-1][1], num_classes)
        self.reset_parameters()

    @property
    def layers(self) -> list[nn.Sequential]:
        """``layer1`` ... ``layerL``."""
        return [
            cast(nn.Sequential, getattr(self, f"layer{i + 1}"))
            for i in range(len(self.blocks_spec))
        ]

    def reset_parameters(self) -> None:
        """Re-initialises every layer (torchvision's initialisation)."""
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.bn1.reset_parameters()
        for layer in self.layers:
            for block in layer:
                cast(TVBasicBlock, block).reset_parameters()
        self.fc.reset_parameters()

    def stem(self, x: Tensor) -> Tensor:
        """The stem's output (after the max pool)."""
        return self.maxpool(F.relu(self.bn1(self.conv1(x))))

    def features(self, x: Tensor) -> list[Tensor]:
        """The stem's output and every layer's output, in order."""
        x = self.stem(x)
        out = [x]
        for layer in self.layers:
            x = layer(x)
            out.append(x)
        return out

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)[-1]
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def __repr__(self) -> str:
        depths = ",".join(str(len(layer)) for layer in self.blocks_spec)
        return (
            f"{self.__class__.__name__}(depths=({depths}), in_channels={self.in_channels}, "
            f"num_classes={self.num_classes})"
        )


@torch.no_grad()
def masked_tv_features(
    space: TorchvisionResNetSpace, teacher: nn.Module, archs: Sequence[Arch], x: Tensor
) -> Tensor:
    """The last-layer feature maps of many ``copy_first`` students of ``space`` in eval mode,
    from one pass of the teacher's layers with the students in the batch dimension and a
    channel mask after every layer (see
    [`masked_student_features`][dassgnn.space.batched.masked_student_features]).

    Args:
        space (TorchvisionResNetSpace): The space.
        teacher (TVResNet): The trained teacher, built by ``space``.
        archs (Sequence[Arch]): The $P$ students.
        x (Tensor): Inputs $(N, C_{img}, H, W)$.

    Returns:
        Tensor: $(P, N, C_{last}, h, w)$, zero beyond each student's width.
    """
    if not isinstance(teacher, TVResNet):
        raise TypeError(f"teacher must be a TVResNet of {space!r}, got {type(teacher).__name__}")
    teacher = teacher.eval()
    specs = [space.blocks(a) for a in archs]
    p, n, device = len(specs), x.shape[0], x.device

    def mask(width: int, sizes: list[int]) -> Tensor:
        m = torch.arange(width, device=device)[None] < torch.tensor(sizes, device=device)[:, None]
        return m.to(x.dtype).repeat_interleave(n, dim=0)[:, :, None, None]

    stem = teacher.stem(x)
    h = stem.repeat(p, 1, 1, 1) * mask(stem.shape[1], [stem_c for stem_c, _ in specs])
    for s, layer in enumerate(teacher.layers):
        for b, module in enumerate(layer):
            block = cast(TVBasicBlock, module)
            depth = [len(blocks[s]) for _, blocks in specs]
            width = [
                blocks[s][min(b, d - 1)][1] for (_, blocks), d in zip(specs, depth, strict=True)
            ]
            m = mask(block.out_channels, width)
            out = F.relu(block.bn1(block.conv1(h))) * m
            out = block.bn2(block.conv2(out)) * m
            out = F.relu(out + block.skip(h) * m) * m
            if b > 0:
                keep = torch.tensor([b < d for d in depth], device=device)
                keep = keep.repeat_interleave(n)[:, None, None, None]
                out = torch.where(keep, out, h)
            h = out
    return h.view(p, n, *h.shape[1:])
