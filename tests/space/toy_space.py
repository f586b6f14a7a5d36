"""A second search space, written as a plugin would be: plain (VGG-style) chains
of conv-BN-ReLU blocks with no shortcuts, using only the public API of
:mod:`dassgnn.space`. It shows that a space plugs in without edits elsewhere."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from dassgnn.space import Arch, BaseSpace, GraphSchema, register_space, remap


class PlainNet(nn.Module):
    def __init__(self, channels: list[list[int]], num_classes: int, in_channels: int) -> None:
        super().__init__()
        stages, prev = [], in_channels
        for s, stage in enumerate(channels):
            blocks = []
            for b, c in enumerate(stage):
                block = nn.Sequential()
                block.add_module("conv", nn.Conv2d(prev, c, 3, 2 if b == 0 and s else 1, 1))
                block.add_module("bn", nn.BatchNorm2d(c))
                blocks.append(block)
                prev = c
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(prev, num_classes)

    def features(self, x: Tensor) -> list[Tensor]:
        out = []
        for stage in self.stages:
            for block in stage:
                x = F.relu(block(x))
            out.append(x)
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x)[-1].mean(dim=(2, 3)))


@register_space("toy_plain")
class PlainSpace(BaseSpace):
    """Stages of 1..2 plain blocks; a block's integer choice is its width in channels."""

    name = "toy_plain"
    choices = (2, 3, 4)

    def __init__(self, stages: int = 2) -> None:
        self.stages = stages

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "stages": self.stages}

    @property
    def teacher(self) -> Arch:
        return Arch((2,) * self.stages, ((4, 4),) * self.stages)

    @property
    def graph_schema(self) -> GraphSchema:
        return GraphSchema(("conv", "head"), ("conv", "head", "width", "stage"), ("flow",))

    def why_not(self, arch: Any) -> str | None:
        if not isinstance(arch, Arch):
            return f"expected an Arch, got {type(arch).__name__}"
        if arch.num_stages != self.stages or max(arch.depths) > 2:
            return f"{arch.id!r} needs {self.stages} stages of depth <= 2"
        if any(w not in self.choices for ws in arch.widths for w in ws):
            return f"{arch.id!r} has widths outside {self.choices}"
        return None

    def canonical(self, arch: Arch) -> Arch:
        return self.check(arch)

    def sample(self, n: int, seed: int) -> list[Arch]:
        rng, out = np.random.default_rng(seed), {}
        while len(out) < n:
            depths = tuple(int(d) for d in rng.integers(1, 3, self.stages))
            widths = tuple(tuple(int(w) for w in rng.choice(self.choices, d)) for d in depths)
            out.setdefault(Arch(depths, widths), None)
        return list(out)

    def build(
        self, arch: Arch, num_classes: int, in_channels: int = 3, seed: int | None = None
    ) -> PlainNet:
        channels = [list(ws) for ws in self.check(arch).widths]
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            return PlainNet(channels, num_classes, in_channels)

    def params(self, arch: Arch, num_classes: int, in_channels: int = 3) -> int:
        total, prev = 0, in_channels
        for ws in self.check(arch).widths:
            for c in ws:
                total += prev * c * 9 + c + 2 * c
                prev = c
        return total + prev * num_classes + num_classes

    def flops(
        self, arch: Arch, num_classes: int, in_channels: int = 3, image_size: int = 32
    ) -> int:
        total, prev, size = 0, in_channels, image_size
        for s, ws in enumerate(self.check(arch).widths):
            for b, c in enumerate(ws):
                if b == 0 and s:
                    size = (size + 1) // 2
                total += prev * c * 9 * size * size
                prev = c
        return total + prev * num_classes

    def remap(
        self, teacher: nn.Module, student: nn.Module, strategy: str = "copy_first"
    ) -> nn.Module:
        return remap(teacher, student, strategy)

    def features(self, model: nn.Module, x: Tensor) -> list[Tensor]:
        assert isinstance(model, PlainNet)
        return model.features(x)

    def to_graph(self, arch: Arch) -> Data:
        rows = [
            [1.0, 0.0, w / 4, s / self.stages]
            for s, ws in enumerate(self.check(arch).widths)
            for w in ws
        ]
        rows.append([0.0, 1.0, 0.0, 1.0])
        n = len(rows)
        edge_index = torch.tensor([list(range(n - 1)), list(range(1, n))], dtype=torch.long)
        return Data(
            x=torch.tensor(rows),
            edge_index=edge_index,
            edge_attr=torch.ones(n - 1, 1),
            op=torch.tensor([0] * (n - 1) + [1]),
            arch_id=arch.id,
            num_nodes=n,
        )

    def __repr__(self) -> str:
        return f"PlainSpace(stages={self.stages})"
