"""The DaSS search space: ResNet students carved out of a teacher."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from dassgnn.space.arch import WIDTH_DENOMINATOR, Arch
from dassgnn.space.base import BaseSpace, GraphSchema, register_space
from dassgnn.space.batched import BatchedResNet, masked_student_features
from dassgnn.space.encoding import grid_bounds, grid_decode, grid_encode
from dassgnn.space.graph import EDGE_TYPES, NODE_FEATURES, OPS, resnet_to_graph
from dassgnn.space.graph_batch import resnet_graph_batch
from dassgnn.space.layouts import resnet_settings, resnet_state_settings
from dassgnn.space.modules import ResNet
from dassgnn.space.remap import RemapStrategy, remap
from dassgnn.utils.validation import check_int, check_ints


@register_space("resnet")
class ResNetSpace(BaseSpace):
    r"""The ResNet search space of
    [DaSS (Lee et al., ICLR 2023)](https://openreview.net/forum?id=SEh5SfEQtqB), built from a
    teacher.

    The teacher is a CIFAR-style ResNet of [`BasicBlock`][dassgnn.space.BasicBlock]
    stages with ``depths[s]`` blocks of ``widths[s]`` channels and stride
    ``strides[s]`` at each stage's first block. A student keeps the stages and
    picks a depth $1 \le d_s \le D_s$ per stage and, for each of its
    blocks, a width multiplier $m \in \{8/16, 9/16, \dots, 16/16\}$ that
    sets the block's output channels to

    $$
    c = \max\big(1, \mathrm{round}(m \cdot w_s)\big)
    $$

    (rounding half up). The stem has the width of the first block. Shortcuts
    are parameter-free as in DaSS ([`ChannelShortcut`][dassgnn.space.ChannelShortcut]:
    zero-pad or drop channels, max-pool for stride), so the teacher, with every
    depth at its maximum and every multiplier 1, is the largest member.
    Multipliers that round to the same channel count build the same network
    and are one architecture: `canonical()` maps them to one representative.

    The default teacher (stages of 3, 3, 3 blocks of 8, 16, 32 channels,
    strides 1, 2, 2) is the CIFAR ResNet-20 layout at half width: 68 k
    parameters and 10 M MACs at 32×32, so that a KD run of a student takes
    seconds to a minute on one CPU core.

    Args:
        widths (Sequence[int], optional): The teacher's channels per stage.
            (default: `(8, 16, 32)`)
        depths (Sequence[int], optional): The teacher's blocks per stage, the
            maximum depth of a student. (default: `(3, 3, 3)`)
        strides (Sequence[int], optional): Stride of each stage's first block.
            (default: `(1, 2, 2)`)
        width_steps (Sequence[int], optional): The allowed multipliers in
            sixteenths. (default: `(8, 9, ..., 16)`)
    """

    name = "resnet"

    def __init__(
        self,
        widths: Sequence[int] = (8, 16, 32),
        depths: Sequence[int] = (3, 3, 3),
        strides: Sequence[int] = (1, 2, 2),
        width_steps: Sequence[int] = tuple(range(8, 17)),
    ) -> None:
        self.widths = check_ints(widths, "widths", minimum=1, nonempty=True)
        self.depths = check_ints(depths, "depths", minimum=1, nonempty=True)
        self.strides = check_ints(strides, "strides", minimum=1, nonempty=True)
        steps = check_ints(width_steps, "width_steps", minimum=1, nonempty=True)
        if len(self.depths) != len(self.widths) or len(self.strides) != len(self.widths):
            raise ValueError(
                "widths, depths and strides need one entry per stage, got "
                f"widths={self.widths}, depths={self.depths}, strides={self.strides}"
            )
        if max(steps) != WIDTH_DENOMINATOR or len(set(steps)) != len(steps):
            raise ValueError(
                f"width_steps must be distinct and include {WIDTH_DENOMINATOR} (the teacher's "
                f"width), got {steps}"
            )
        self.width_steps = tuple(sorted(steps))

    @classmethod
    def from_module(cls, module: nn.Module) -> ResNetSpace:
        """The space whose teacher is the library's [`ResNet`][dassgnn.space.ResNet] ``module``
        (its channels and strides; see `dassgnn.space.layouts`).

        Raises:
            UnsupportedModuleError: If ``module`` is not a ``ResNet`` (with ``expects``), or
                is a student (a stage of several widths).
        """
        return cls(**resnet_settings(module))

    @classmethod
    def from_state_dict(
        cls, state: Mapping[str, Tensor], *, strides: Sequence[int] | None = None, **hints: Any
    ) -> ResNetSpace:
        """The space whose teacher's weights are ``state`` (``stem.conv``,
        ``stages.<s>.<b>``). Strides are not stored: by default the first stage keeps the
        resolution and each later one halves it; other ``hints`` are ignored.

        Raises:
            UnsupportedModuleError: If ``state`` is not in this layout (with ``expects``).
            ValueError: If its stages or blocks are not consecutive or a stage has several
                widths.
        """
        return cls(**resnet_state_settings(state, strides))

    def to_dict(self) -> dict[str, Any]:
        """The settings, with ``"name"``, for
        [`space_from_dict()`][dassgnn.space.space_from_dict]."""
        return {
            "name": self.name,
            "widths": list(self.widths),
            "depths": list(self.depths),
            "strides": list(self.strides),
            "width_steps": list(self.width_steps),
        }

    @property
    def num_stages(self) -> int:
        """Number of stages."""
        return len(self.widths)

    @property
    def width_multipliers(self) -> tuple[float, ...]:
        """The allowed width multipliers as floats."""
        return tuple(s / WIDTH_DENOMINATOR for s in self.width_steps)

    @property
    def teacher(self) -> Arch:
        """The teacher: every stage at full depth, every block at full width."""
        return Arch(self.depths, tuple((WIDTH_DENOMINATOR,) * d for d in self.depths))

    @staticmethod
    def channels_for(step: int, width: int) -> int:
        """Channels of a block with multiplier ``step / 16`` where the teacher has ``width``."""
        return max(1, (step * width + WIDTH_DENOMINATOR // 2) // WIDTH_DENOMINATOR)

    def channels(self, arch: Arch) -> tuple[tuple[int, ...], ...]:
        """Output channels of every block of ``arch``, per stage."""
        self.check(arch)
        return tuple(
            tuple(self.channels_for(m, w) for m in ms)
            for ms, w in zip(arch.widths, self.widths, strict=True)
        )

    def why_not(self, arch: Any) -> str | None:
        """Why ``arch`` is not a member, or `None` if it is."""
        if not isinstance(arch, Arch):
            return f"expected an Arch, got {type(arch).__name__}"
        if arch.num_stages != self.num_stages:
            return f"arch {arch.id!r} has {arch.num_stages} stages, the space has {self.num_stages}"
        for s, (d, ms) in enumerate(zip(arch.depths, arch.widths, strict=True)):
            if d > self.depths[s]:
                return f"stage {s} of arch {arch.id!r} has depth {d} > maximum {self.depths[s]}"
            bad = [m for m in ms if m not in self.width_steps]
            if bad:
                return (
                    f"stage {s} of arch {arch.id!r} has width steps {bad} outside "
                    f"{self.width_steps} (sixteenths)"
                )
        return None

    def canonical(self, arch: Arch) -> Arch:
        """The one encoding of the network ``arch`` builds: for each block, among
        the multipliers giving its channel count $c$, the one whose exact
        width $m \\cdot w$ is nearest to $c$ (ties go to the larger),
        so the teacher's full widths stay 16/16."""
        self.check(arch)
        widths = []
        for s, ms in enumerate(arch.widths):
            rep = self._representatives(s)
            widths.append(tuple(rep[self.channels_for(m, self.widths[s])] for m in ms))
        return Arch(arch.depths, tuple(widths))

    def _representatives(self, stage: int) -> dict[int, int]:
        """Channels -> the step whose exact width ``step * w / 16`` is nearest (ties: larger)."""
        w = self.widths[stage]
        rep: dict[int, int] = {}
        for step in self.width_steps:
            c = self.channels_for(step, w)
            best = rep.get(c)
            if best is None or abs(step * w - WIDTH_DENOMINATOR * c) <= abs(
                best * w - WIDTH_DENOMINATOR * c
            ):
                rep[c] = step
        return rep

    def _distinct_steps(self, stage: int) -> tuple[int, ...]:
        return tuple(self._representatives(stage).values())

    def __len__(self) -> int:
        """Number of distinct networks in the space."""
        total = 1
        for s, dmax in enumerate(self.depths):
            k = len(self._distinct_steps(s))
            total *= sum(k**d for d in range(1, dmax + 1))
        return total

    def __iter__(self) -> Iterator[Arch]:
        """Every canonical member (only sensible for small spaces)."""
        import itertools

        per_stage = []
        for s, dmax in enumerate(self.depths):
            steps = self._distinct_steps(s)
            per_stage.append(
                [ws for d in range(1, dmax + 1) for ws in itertools.product(steps, repeat=d)]
            )
        for combo in itertools.product(*per_stage):
            yield Arch(tuple(len(ws) for ws in combo), combo)

    def sample(self, n: int, seed: int) -> list[Arch]:
        """Samples ``n`` distinct canonical members: each stage's depth uniformly
        from ``1..D_s``, then each block's multiplier uniformly.

        Args:
            n (int): Number of architectures.
            seed (int): Seed of the sampler; the same seed gives the same list.

        Raises:
            ValueError: If ``n`` exceeds the number of members.
        """
        n = check_int(n, "n", minimum=0)
        size = len(self)
        if n > size:
            raise ValueError(f"n={n} exceeds the {size} distinct architectures of {self!r}")
        rng = np.random.default_rng(seed)
        if n > size // 2:
            members = list(self)
            return [members[i] for i in rng.permutation(size)[:n]]
        out: dict[Arch, None] = {}
        while len(out) < n:
            depths = tuple(int(rng.integers(1, d + 1)) for d in self.depths)
            widths = tuple(
                tuple(int(rng.choice(self.width_steps)) for _ in range(d)) for d in depths
            )
            out.setdefault(self.canonical(Arch(depths, widths)), None)
        return list(out)

    def genotype_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of `genotype()`: per stage its depth $1 \\dots D_s$, then per block slot
        of the teacher's stage the index of its multiplier in `width_steps`."""
        return grid_bounds(self.depths, len(self.width_steps))

    def genotype(self, arch: Arch) -> np.ndarray:
        """The integer vector of ``arch``: per stage its depth and the indices of its
        blocks' multipliers in `width_steps`, 0 in the slots beyond its depth."""
        return grid_encode(self.depths, self.width_steps, self.check(arch))

    def from_genotype(self, x: ArrayLike) -> Arch:
        """The canonical member of a vector (rounded and clipped into the bounds first), so
        that vectors of the same network give the same member."""
        return self.canonical(grid_decode(self.depths, self.width_steps, np.asarray(x)))

    def smallest(self) -> Arch:
        """Every stage one block of the smallest multiplier (canonical)."""
        return self.canonical(
            Arch((1,) * self.num_stages, tuple((self.width_steps[0],) for _ in self.depths))
        )

    def spatial_sizes(self, image_size: int | tuple[int, int]) -> list[tuple[int, int]]:
        """Feature-map size after the stem and after each stage."""
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        if h < 1 or w < 1:
            raise ValueError(f"image_size must be positive, got {image_size!r}")
        sizes = [(h, w)]
        for s in self.strides:
            h, w = math.ceil(h / s), math.ceil(w / s)
            sizes.append((h, w))
        return sizes

    def build(
        self, arch: Arch, num_classes: int, in_channels: int = 3, seed: int | None = None
    ) -> ResNet:
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
        channels = self.channels(arch)
        if seed is None:
            return ResNet(channels, self.strides, num_classes, in_channels)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return ResNet(channels, self.strides, num_classes, in_channels)

    def params(self, arch: Arch, num_classes: int, in_channels: int = 3) -> int:
        """Trainable parameters of `build()`'s network (convolutions, BN
        scales and shifts, the classifier), computed analytically."""
        num_classes = check_int(num_classes, "num_classes", minimum=1)
        in_channels = check_int(in_channels, "in_channels", minimum=1)
        channels = self.channels(arch)
        prev = channels[0][0]
        total = in_channels * prev * 9 + 2 * prev
        for stage in channels:
            for c in stage:
                total += prev * c * 9 + c * c * 9 + 4 * c
                prev = c
        return total + prev * num_classes + num_classes

    def flops(
        self,
        arch: Arch,
        num_classes: int,
        in_channels: int = 3,
        image_size: int | tuple[int, int] = 32,
    ) -> int:
        """Multiply-accumulate operations (MACs, the "FLOPs" of NAS papers) of
        the convolutions and the classifier for one image, computed analytically."""
        num_classes = check_int(num_classes, "num_classes", minimum=1)
        in_channels = check_int(in_channels, "in_channels", minimum=1)
        channels = self.channels(arch)
        sizes = self.spatial_sizes(image_size)
        prev = channels[0][0]
        total = in_channels * prev * 9 * sizes[0][0] * sizes[0][1]
        for stage, (h, w) in zip(channels, sizes[1:], strict=True):
            for c in stage:
                total += (prev * c + c * c) * 9 * h * w
                prev = c
        return total + prev * num_classes

    def remap(
        self, teacher: nn.Module, student: nn.Module, strategy: str | RemapStrategy = "copy_first"
    ) -> nn.Module:
        """Initialises ``student`` in place from ``teacher`` (both networks of
        this space) with a strategy of [`REMAP_STRATEGIES`][dassgnn.space.REMAP_STRATEGIES];
        see [`remap_state_dict()`][dassgnn.space.remap_state_dict]."""
        return remap(teacher, student, strategy)

    def features(self, model: nn.Module, x: Tensor) -> list[Tensor]:
        """The stem's and every stage's output of a network built by `build()`."""
        if not isinstance(model, ResNet):
            raise TypeError(f"model must be a ResNet built by {self!r}, got {type(model).__name__}")
        return model.features(x)

    @property
    def graph_schema(self) -> GraphSchema:
        """Node ops, node features and edge types of `to_graph()`."""
        return GraphSchema(OPS, NODE_FEATURES, EDGE_TYPES)

    def to_graph(self, arch: Arch) -> Data:
        """The architecture as a graph; see [`resnet_to_graph()`][dassgnn.space.resnet_to_graph]."""
        return resnet_to_graph(self, arch)

    def graph_batch(self, archs: Sequence[Arch]) -> Batch:
        """The graphs of many architectures as one `Batch`, built at once
        (equal to batching [`to_graph`][dassgnn.space.ResNetSpace.to_graph])."""
        return resnet_graph_batch(self, archs)

    def student_features(self, teacher: nn.Module, archs: Sequence[Arch], x: Tensor) -> Tensor:
        """Last-stage feature maps $(P, N, C, h, w)$ of students with ``teacher``'s
        weights remapped ``copy_first``, from one masked pass
        ([`masked_student_features`][dassgnn.space.batched.masked_student_features])."""
        return masked_student_features(self, teacher, archs, x)

    def build_batched(
        self, archs: Sequence[Arch], num_classes: int, in_channels: int = 3
    ) -> BatchedResNet:
        """Many students as one network for the batched trainer
        (`BatchedResNet`)."""
        num_classes = check_int(num_classes, "num_classes", minimum=1)
        in_channels = check_int(in_channels, "in_channels", minimum=1)
        return BatchedResNet(self, archs, num_classes, in_channels)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(widths={self.widths}, depths={self.depths}, "
            f"strides={self.strides})"
        )
