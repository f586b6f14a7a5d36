"""The networks that [`ResNetSpace`][dassgnn.space.ResNetSpace] builds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ChannelShortcut(nn.Module):
    r"""The parameter-free residual shortcut of DaSS (``IdentityShortCut``),
    the "option A" shortcut of [He et al. (2016)](https://arxiv.org/abs/1512.03385).

    Channels are zero-padded at the end when the block widens and the first
    ``out_channels`` are kept when it narrows; a stride $s > 1$ is applied
    by $s \times s$ max pooling with ``ceil_mode=True``, so that the
    spatial size matches a padded $3 \times 3$ convolution of stride
    $s$ for any input size.

    Args:
        in_channels (int): Channels of the block input.
        out_channels (int): Channels of the block output.
        stride (int, optional): Spatial stride of the block. (default: `1`)

    Shapes:
        - **input:** $(N, C_{in}, H, W)$
        - **output:** $(N, C_{out}, \lceil H/s \rceil, \lceil W/s \rceil)$
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    @property
    def is_identity(self) -> bool:
        """Whether the shortcut passes its input through unchanged."""
        return self.stride == 1 and self.in_channels == self.out_channels

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = F.max_pool2d(x, self.stride, self.stride, ceil_mode=True)
        if self.out_channels > self.in_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.out_channels - self.in_channels))
        elif self.out_channels < self.in_channels:
            x = x[:, : self.out_channels]
        return x

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"stride={self.stride})"
        )


class BasicBlock(nn.Module):
    r"""A ResNet basic block whose two $3 \times 3$ convolutions both have
    ``out_channels`` channels, with a [`ChannelShortcut`][dassgnn.space.ChannelShortcut]:

    $$
    \mathbf{y} = \mathrm{ReLU}\big(\mathrm{BN}(W_2 * \mathrm{ReLU}(\mathrm{BN}(W_1 *
    \mathbf{x}))) + \mathrm{shortcut}(\mathbf{x})\big)
    $$

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels of both convolutions.
        stride (int, optional): Stride of the first convolution. (default: `1`)

    Shapes:
        - **input:** $(N, C_{in}, H, W)$
        - **output:** $(N, C_{out}, \lceil H/s \rceil, \lceil W/s \rceil)$
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = ChannelShortcut(in_channels, out_channels, stride)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal convolutions (fan-out), unit BN scale, zero BN shift."""
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        for bn in (self.bn1, self.bn2):
            bn.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"stride={self.stride})"
        )


class ResNet(nn.Module):
    r"""A CIFAR-style ResNet of [`BasicBlock`][dassgnn.space.BasicBlock] stages: a $3 \times 3$
    stem convolution with BN and ReLU, the stages, global average pooling and a
    linear classifier. Built by [`build()`][dassgnn.space.ResNetSpace.build].

    Args:
        channels (Sequence[Sequence[int]]): Output channels of every block, per stage.
        strides (Sequence[int]): Stride of each stage's first block.
        num_classes (int): Number of output classes.
        in_channels (int, optional): Image channels. (default: `3`)

    Shapes:
        - **input:** $(N, C_{img}, H, W)$
        - **output:** $(N, K)$ logits
    """

    def __init__(
        self,
        channels: Sequence[Sequence[int]],
        strides: Sequence[int],
        num_classes: int,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.channels = tuple(tuple(c) for c in channels)
        self.strides = tuple(strides)
        self.num_classes = num_classes
        self.in_channels = in_channels
        stem_width = self.channels[0][0]
        self.stem = nn.Sequential()
        self.stem.add_module("conv", nn.Conv2d(in_channels, stem_width, 3, 1, 1, bias=False))
        self.stem.add_module("bn", nn.BatchNorm2d(stem_width))
        stages = []
        prev = stem_width
        for stage_channels, stride in zip(self.channels, self.strides, strict=True):
            blocks = []
            for b, c in enumerate(stage_channels):
                blocks.append(BasicBlock(prev, c, stride if b == 0 else 1))
                prev = c
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(prev, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises every layer."""
        nn.init.kaiming_normal_(self.stem_conv.weight, mode="fan_out", nonlinearity="relu")
        self.stem_bn.reset_parameters()
        for module in self.stages.modules():
            if isinstance(module, BasicBlock):
                module.reset_parameters()
        self.fc.reset_parameters()

    @property
    def stem_conv(self) -> nn.Conv2d:
        """The stem's convolution."""
        return cast(nn.Conv2d, self.stem.conv)

    @property
    def stem_bn(self) -> nn.BatchNorm2d:
        """The stem's batch normalisation."""
        return cast(nn.BatchNorm2d, self.stem.bn)

    def features(self, x: Tensor) -> list[Tensor]:
        """The stem's output and every stage's output, in order."""
        x = F.relu(self.stem(x))
        out = [x]
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.stem(x))
        for stage in self.stages:
            x = stage(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)

    def __repr__(self) -> str:
        depths = ",".join(str(len(c)) for c in self.channels)
        return (
            f"{self.__class__.__name__}(depths=({depths}), in_channels={self.in_channels}, "
            f"num_classes={self.num_classes})"
        )
