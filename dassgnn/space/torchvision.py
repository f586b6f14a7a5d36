r"""Torchvision-style BasicBlock ResNets (ResNet-18 and ResNet-34 layouts) as a search space.

[`TVResNet`][dassgnn.space.TVResNet] names its tensors as
[torchvision's ResNet](https://pytorch.org/vision/stable/models/resnet.html) does (``conv1``,
``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0``, ``fc``, ...), so the state dict of a
torchvision ResNet-18 or ResNet-34 (any number of classes) loads into the teacher of the
matching [`TorchvisionResNetSpace`][dassgnn.space.TorchvisionResNetSpace], and torchvision
itself is not needed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor, nn
from torch_geometric.data import Data

from dassgnn.space.arch import Arch
from dassgnn.space.base import BaseSpace, GraphSchema, register_space
from dassgnn.space.graph import EDGE_TYPES, NODE_FEATURES, OPS, _GraphBuilder, _Position
from dassgnn.space.layouts import tv_settings, tv_state_settings
from dassgnn.space.remap import RemapStrategy, remap_blocks
from dassgnn.space.resnet import ResNetSpace
from dassgnn.space.tv_modules import BlockSpec, TVResNet, masked_tv_features
from dassgnn.utils.validation import check_bool, check_int


@register_space("tv_resnet")
class TorchvisionResNetSpace(BaseSpace):
    r"""Students of a torchvision-style BasicBlock ResNet (by default ResNet-18).

    The architectures are those of [`ResNetSpace`][dassgnn.space.ResNetSpace] with the same
    settings: a depth $1 \le d_s \le D_s$ per layer (the first $d_s$ blocks) and, per block, a
    width multiplier in sixteenths of the layer's width. The stem keeps the teacher's width
    unless it equals the first layer's width, in which case it follows the first block (as the
    identity shortcut of ``layer1.0`` needs). A block keeps its ``downsample`` (cut to the
    student's channels) where the teacher's has one; elsewhere a student block whose width
    differs from its input's uses a parameter-free
    [`ChannelShortcut`][dassgnn.space.ChannelShortcut], so the teacher itself is exactly the
    torchvision network.

    Graphs follow the schema of [`ResNetSpace`][dassgnn.space.ResNetSpace] so that a predictor
    trained on that space scores these students, with two approximations: the
    $k \times k$ stem with its stride and max pool is one ``stem`` node (its downsampling is not
    encoded: resolutions count from the stem's output), and a $1 \times 1$ ``downsample``
    shortcut is a ``skip_adapt`` node, as a parameter-free shortcut that pads, drops or pools.

    Args:
        widths (Sequence[int], optional): The teacher's channels per layer.
            (default: `(64, 128, 256, 512)`)
        depths (Sequence[int], optional): The teacher's blocks per layer. (default: `(2, 2, 2, 2)`)
        strides (Sequence[int], optional): Stride of each layer's first block.
            (default: `(1, 2, 2, 2)`)
        stem_width (int, optional): Channels of ``conv1``. (default: `64`)
        stem_kernel (int, optional): Kernel of ``conv1`` (odd). (default: `7`)
        stem_stride (int, optional): Stride of ``conv1``. (default: `2`)
        stem_pool (bool, optional): The stem's max pool. (default: `True`)
        width_steps (Sequence[int], optional): The allowed multipliers in sixteenths.
            (default: `(8, 9, ..., 16)`)
    """

    name = "tv_resnet"

    def __init__(
        self,
        widths: Sequence[int] = (64, 128, 256, 512),
        depths: Sequence[int] = (2, 2, 2, 2),
        strides: Sequence[int] = (1, 2, 2, 2),
        stem_width: int = 64,
        stem_kernel: int = 7,
        stem_stride: int = 2,
        stem_pool: bool = True,
        width_steps: Sequence[int] = tuple(range(8, 17)),
    ) -> None:
        self.grid = ResNetSpace(widths, depths, strides, width_steps)
        self.widths, self.depths, self.strides = (
            self.grid.widths,
            self.grid.depths,
            self.grid.strides,
        )
        self.width_steps = self.grid.width_steps
        self.stem_width = check_int(stem_width, "stem_width", minimum=1)
        self.stem_kernel = check_int(stem_kernel, "stem_kernel", minimum=1)
        if self.stem_kernel % 2 == 0:
            raise ValueError(f"stem_kernel must be odd, got {stem_kernel}")
        self.stem_stride = check_int(stem_stride, "stem_stride", minimum=1)
        self.stem_pool = check_bool(stem_pool, "stem_pool")

    @classmethod
    def from_module(cls, module: nn.Module) -> TorchvisionResNetSpace:
        """The space whose teacher is the torchvision-style BasicBlock ResNet ``module``
        (torchvision's ResNet-18 or ResNet-34 with any classes, or a
        [`TVResNet`][dassgnn.space.TVResNet] teacher): its stem, widths, depths and strides
        (see `dassgnn.space.layouts`).

        Raises:
            UnsupportedModuleError: If ``module`` lacks that layout's children (with
                ``expects``), or has them with something not supported: a Bottleneck block,
                grouped or dilated convolutions, another normalisation, an unknown layer, a
                student's shortcut, ...
        """
        return cls(**tv_settings(module))

    @classmethod
    def from_state_dict(
        cls,
        state: Mapping[str, Tensor],
        *,
        strides: Sequence[int] | None = None,
        stem_stride: int | None = None,
        stem_pool: bool | None = None,
        **hints: Any,
    ) -> TorchvisionResNetSpace:
        """The space whose teacher's weights are ``state`` (``conv1``, ``layer<i>.<b>``,
        ``downsample``, ``fc``). Strides are not stored: by default the first layer keeps the
        resolution and each later one halves it, and a stem of kernel 7 has stride 2 and a
        max pool while a $3 \\times 3$ stem has stride 1 and none; other ``hints`` are ignored.

        Raises:
            UnsupportedModuleError: If ``state`` is not in this layout (with ``expects``), or
                holds a Bottleneck ResNet.
            ValueError: If its layers or blocks are not consecutive or a layer has several
                widths.
        """
        return cls(**tv_state_settings(state, strides, stem_stride, stem_pool))

    def to_dict(self) -> dict[str, Any]:
        """The settings, with ``"name"``, for
        [`space_from_dict()`][dassgnn.space.space_from_dict]."""
        return {
            "name": self.name,
            "widths": list(self.widths),
            "depths": list(self.depths),
            "strides": list(self.strides),
            "stem_width": self.stem_width,
            "stem_kernel": self.stem_kernel,
            "stem_stride": self.stem_stride,
            "stem_pool": self.stem_pool,
            "width_steps": list(self.width_steps),
        }

    # ------------------------------------------------------------ membership

    @property
    def teacher(self) -> Arch:
        """The teacher: every layer at full depth, every block at full width."""
        return self.grid.teacher

    @property
    def num_stages(self) -> int:
        """Number of layers."""
        return len(self.widths)

    def why_not(self, arch: Any) -> str | None:
        """Why ``arch`` is not a member, or `None` if it is."""
        return self.grid.why_not(arch)

    def canonical(self, arch: Arch) -> Arch:
        """The one encoding of the network ``arch`` builds (see
        [`ResNetSpace.canonical()`][dassgnn.space.ResNetSpace.canonical])."""
        self.check(arch)
        return self.grid.canonical(arch)

    def sample(self, n: int, seed: int) -> list[Arch]:
        """``n`` distinct canonical members, reproducibly from ``seed`` (see
        [`ResNetSpace.sample()`][dassgnn.space.ResNetSpace.sample])."""
        return self.grid.sample(n, seed)

    def genotype_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of `genotype()` (as [`ResNetSpace`][dassgnn.space.ResNetSpace]'s)."""
        return self.grid.genotype_bounds()

    def genotype(self, arch: Arch) -> np.ndarray:
        """The integer vector of ``arch`` (as
        [`ResNetSpace.genotype()`][dassgnn.space.ResNetSpace.genotype])."""
        return self.grid.genotype(arch)

    def from_genotype(self, x: ArrayLike) -> Arch:
        """The canonical member of a vector (rounded and clipped into the bounds first)."""
        return self.grid.from_genotype(x)

    def smallest(self) -> Arch:
        """Every layer one block of the smallest multiplier (canonical)."""
        return self.grid.smallest()

    def __len__(self) -> int:
        """Number of distinct networks in the space."""
        return len(self.grid)

    def __iter__(self) -> Iterator[Arch]:
        """Every canonical member (only sensible for small spaces)."""
        return iter(self.grid)

    # ------------------------------------------------------------ networks

    @property
    def stem_tied(self) -> bool:
        """Whether the stem's width follows the first block's (the teacher's are equal)."""
        return self.stem_width == self.widths[0]

    def _teacher_downsample(self, stage: int) -> bool:
        c_in = self.stem_width if stage == 0 else self.widths[stage - 1]
        return self.strides[stage] != 1 or c_in != self.widths[stage]

    def blocks(self, arch: Arch) -> tuple[int, tuple[tuple[BlockSpec, ...], ...]]:
        """The stem's width and ``(in, out, stride, downsample)`` of every block of ``arch``."""
        channels = self.grid.channels(self.check(arch))
        stem = channels[0][0] if self.stem_tied else self.stem_width
        prev, layers = stem, []
        for s, stage in enumerate(channels):
            layer = []
            for b, c in enumerate(stage):
                first = b == 0
                layer.append(
                    (
                        prev,
                        c,
                        self.strides[s] if first else 1,
                        first and self._teacher_downsample(s),
                    )
                )
                prev = c
            layers.append(tuple(layer))
        return stem, tuple(layers)

    def build(
        self, arch: Arch, num_classes: int, in_channels: int = 3, seed: int | None = None
    ) -> TVResNet:
        """Builds the network of ``arch``.

        Args:
            arch (Arch): A member of the space.
            num_classes (int): Output classes.
            in_channels (int, optional): Image channels. (default: `3`)
            seed (int, optional): Seeds the initial weights without touching the
                global random state. (default: `None`, the global state)
        """
        num_classes = check_int(num_classes, "num_classes", minimum=1)
        in_channels = check_int(in_channels, "in_channels", minimum=1)
        stem, blocks = self.blocks(arch)
        stem_args = (self.stem_kernel, self.stem_stride, self.stem_pool)
        if seed is None:
            return TVResNet(blocks, stem, num_classes, in_channels, *stem_args)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return TVResNet(blocks, stem, num_classes, in_channels, *stem_args)

    def params(self, arch: Arch, num_classes: int, in_channels: int = 3) -> int:
        """Trainable parameters of `build()`'s network, computed analytically."""
        num_classes = check_int(num_classes, "num_classes", minimum=1)
        in_channels = check_int(in_channels, "in_channels", minimum=1)
        stem, blocks = self.blocks(arch)
        total = in_channels * stem * self.stem_kernel**2 + 2 * stem
        prev = stem
        for layer in blocks:
            for c_in, c, _, ds in layer:
                total += c_in * c * 9 + c * c * 9 + 4 * c + (c_in * c + 2 * c if ds else 0)
                prev = c
        return total + prev * num_classes + num_classes

    def spatial_sizes(self, image_size: int | tuple[int, int]) -> list[tuple[int, int]]:
        """Feature-map size after the stem's convolution, after the stem (its pool) and
        after each layer."""
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        if h < 1 or w < 1:
            raise ValueError(f"image_size must be positive, got {image_size!r}")
        k, s = self.stem_kernel, self.stem_stride
        h, w = (h + 2 * (k // 2) - k) // s + 1, (w + 2 * (k // 2) - k) // s + 1
        sizes = [(h, w)]
        if self.stem_pool:
            h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
        sizes.append((h, w))
        for s in self.strides:
            h, w = (h - 1) // s + 1, (w - 1) // s + 1
            sizes.append((h, w))
        return sizes

    def flops(
        self,
        arch: Arch,
        num_classes: int,
        in_channels: int = 3,
        image_size: int | tuple[int, int] = 32,
    ) -> int:
        """Multiply-accumulate operations of the convolutions and the classifier for
        one image, computed analytically."""
        num_classes = check_int(num_classes, "num_classes", minimum=1)
        in_channels = check_int(in_channels, "in_channels", minimum=1)
        stem, blocks = self.blocks(arch)
        sizes = self.spatial_sizes(image_size)
        total = in_channels * stem * self.stem_kernel**2 * sizes[0][0] * sizes[0][1]
        prev = stem
        for layer, (h, w) in zip(blocks, sizes[2:], strict=True):
            for c_in, c, _, ds in layer:
                total += (c_in * c + c * c) * 9 * h * w + (c_in * c * h * w if ds else 0)
                prev = c
        return total + prev * num_classes

    def remap(
        self, teacher: nn.Module, student: nn.Module, strategy: str | RemapStrategy = "copy_first"
    ) -> nn.Module:
        """Initialises ``student`` in place from ``teacher`` (both networks of this space,
        or the teacher any module with torchvision's tensor names) and returns it; see
        [`remap_tv_state_dict()`][dassgnn.space.remap_tv_state_dict]."""
        state = remap_tv_state_dict(teacher.state_dict(), student.state_dict(), strategy)
        student.load_state_dict(state)
        return student

    def features(self, model: nn.Module, x: Tensor) -> list[Tensor]:
        """The stem's and every layer's output of a network built by `build()`."""
        if not isinstance(model, TVResNet):
            raise TypeError(
                f"model must be a TVResNet built by {self!r}, got {type(model).__name__}"
            )
        return model.features(x)

    def student_features(self, teacher: nn.Module, archs: Sequence[Arch], x: Tensor) -> Tensor:
        """Last-layer feature maps $(P, N, C, h, w)$ of students with ``teacher``'s weights
        remapped ``copy_first``, from one masked pass of the teacher's layers (as
        [`masked_student_features`][dassgnn.space.batched.masked_student_features])."""
        return masked_tv_features(self, teacher, archs, x)

    # ------------------------------------------------------------ graphs

    @property
    def graph_schema(self) -> GraphSchema:
        """The schema of [`ResNetSpace`][dassgnn.space.ResNetSpace]'s graphs."""
        return GraphSchema(OPS, NODE_FEATURES, EDGE_TYPES)

    def to_graph(self, arch: Arch) -> Data:
        """The architecture as a graph in the layout of
        [`resnet_to_graph()`][dassgnn.space.resnet_to_graph] (see the class text for the
        stem and the ``downsample`` shortcuts)."""
        stem, blocks = self.blocks(arch)
        g = _GraphBuilder(self.num_stages)
        prev = g.node("input", 0, 0, 0)
        node = g.node("stem", 0, stem, self.stem_width)
        g.edge(prev, node)
        prev, down = node, 1
        for s, (layer, width) in enumerate(zip(blocks, self.widths, strict=True)):
            for b, (c_in, c, stride, ds) in enumerate(layer):
                down *= stride
                pos = _Position(s, b, self.depths[s], b == len(layer) - 1)
                adapt = ds or stride > 1 or c != c_in
                prev = g.block(prev, c_in, c, width, pos, stride=stride, down=down, adapt=adapt)
        g.head(prev, blocks[-1][-1][1], self.widths[-1], down)
        return g.data(arch)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(widths={self.widths}, depths={self.depths}, "
            f"strides={self.strides}, stem_width={self.stem_width})"
        )


_LAYER_KEY = re.compile(r"^layer(\d+)\.(\d+)\.(.+)$")
# Dimensions that must match exactly: the classes of the head, the image channels of the stem.
_FIXED_DIMS = {"fc.weight": (0,), "fc.bias": (0,), "conv1.weight": (1,)}


def remap_tv_state_dict(
    teacher_state: Mapping[str, Tensor],
    student_state: Mapping[str, Tensor],
    strategy: str | RemapStrategy = "copy_first",
) -> dict[str, Tensor]:
    """Remaps a torchvision-layout teacher's state dict onto a student's shapes: per layer
    the strategy picks the teacher blocks (``layer<i>.<block>``), and per tensor dimension
    its channels (the stem, every ``downsample`` convolution and BN, and ``fc``'s inputs
    included); see [`REMAP_STRATEGIES`][dassgnn.space.REMAP_STRATEGIES].

    Args:
        teacher_state (Mapping[str, Tensor]): The teacher's ``state_dict()``.
        student_state (Mapping[str, Tensor]): The student's; only keys and shapes are used.
        strategy (str or RemapStrategy, optional): A name from
            [`REMAP_STRATEGIES`][dassgnn.space.REMAP_STRATEGIES]. (default: `"copy_first"`)

    Returns:
        dict[str, Tensor]: A state dict for the student.

    Raises:
        ValueError: If the teacher does not fit: other layers, fewer blocks or channels, a
            missing tensor (such as a ``downsample`` the teacher lacks), other classes or
            image channels.
    """
    return remap_blocks(
        teacher_state,
        student_state,
        strategy,
        block_key=_LAYER_KEY,
        block_name="layer{s}.{b}.{rest}",
        fixed_dims=_FIXED_DIMS,
        unit="layer",
    )
