r"""The dataset encoder: image features within each class, aggregated by a set
transformer into one vector a class, then across classes into one vector for
the dataset (MetaD2A-style, [Lee et al., 2021](https://arxiv.org/abs/2107.00860)),
built on PyG's `SetTransformerAggregation`
([Lee et al., 2019](https://arxiv.org/abs/1810.00825))."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.aggr import SetTransformerAggregation

from dassgnn.utils.validation import check_int, check_seed

FEATURIZERS = ("random_conv", "learned_conv")
"""Where the image features come from: a fixed, seeded random conv net, or a
small conv net trained with the predictor."""


def sample_per_class(data: Any, per_class: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Up to ``per_class`` training images of every class, drawn reproducibly.

    Args:
        data (DatasetSplits): The task's data.
        per_class (int): Images a class.
        seed (int, optional): Seed of the draw. (default: `0`)

    Returns:
        tuple[Tensor, Tensor]: uint8 images $(M, C, H, W)$ sorted by label, and
        the labels $(M,)$.
    """
    per_class = check_int(per_class, "per_class", minimum=1)
    rng = np.random.default_rng(check_seed(seed))
    labels = np.asarray(data.train.labels)
    picked = []
    for k in range(data.num_classes):
        idx = np.flatnonzero(labels == k)
        if idx.size:
            picked.append(np.sort(rng.choice(idx, size=min(per_class, idx.size), replace=False)))
    index = np.concatenate(picked)
    images, targets = data.train.tensors()
    order = torch.as_tensor(index)
    return images[order], targets[order].long()


def standardize(images: Tensor) -> Tensor:
    """uint8 images $(M, C, H, W)$ to floats with zero mean and unit variance
    per channel (statistics of the sample), 3 channels (grey images repeated)."""
    x = images.float() / 255.0
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3)
    return (x - mean) / std


class ConvFeatures(nn.Module):
    r"""A small conv net from images to feature vectors: three conv-ReLU layers
    (stride 2 after the first) and global average and max pooling.

    With ``trainable=False`` its weights are drawn once from ``seed`` and frozen
    (a random-feature extractor, identical on every machine for the same seed);
    otherwise it learns with the predictor.

    Args:
        out_channels (int, optional): Feature size (half from average, half
            from max pooling). (default: `64`)
        trainable (bool, optional): Learn the weights. (default: `False`)
        seed (int, optional): Seed of the initial weights. (default: `0`)

    Shapes:
        - **input:** standardised images $(M, 3, H, W)$
        - **output:** $(M, \text{out})$
    """

    def __init__(self, out_channels: int = 64, trainable: bool = False, seed: int = 0) -> None:
        super().__init__()
        self.out_channels = check_int(out_channels, "out_channels", minimum=2)
        self.trainable = bool(trainable)
        self.seed = check_seed(seed)
        c = self.out_channels // 2
        self.convs = nn.ModuleList(
            [nn.Conv2d(3, c // 2, 3, 1, 1), nn.Conv2d(c // 2, c, 3, 2, 1), nn.Conv2d(c, c, 3, 2, 1)]
        )
        self.reset_parameters()
        self.requires_grad_(self.trainable)

    def reset_parameters(self) -> None:
        """Draws the weights from ``seed`` (Kaiming normal), without touching the
        global random state."""
        g = torch.Generator().manual_seed(self.seed)
        with torch.no_grad():
            for conv in self.convs:
                assert isinstance(conv, nn.Conv2d) and conv.bias is not None
                fan_in = conv.in_channels * 9
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) / math.sqrt(fan_in))
                conv.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
        for conv in self.convs:
            x = F.relu(conv(x))
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=-1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(3, {self.out_channels}, trainable={self.trainable}, "
            f"seed={self.seed})"
        )


class DatasetEncoder(nn.Module):
    r"""Encodes a labelled image sample into one vector, invariant to the order
    of the images and of the classes, for any number of classes:

    $$
    \mathbf{c}_k = \mathrm{ST}_1\big(\{\phi(\mathbf{x}) : y(\mathbf{x}) = k\}\big), \quad
    \mathbf{d} = \big[\mathrm{ST}_2(\{\mathbf{c}_1, \dots, \mathbf{c}_K\}) \,\|\, \log_2 K / 8\big]
    $$

    where $\phi$ are image features ([`ConvFeatures`][dassgnn.encoders.ConvFeatures])
    and $\mathrm{ST}$ are set transformers (`SetTransformerAggregation`).

    Args:
        in_channels (int): Image feature size.
        hidden_channels (int, optional): Set-transformer width. (default: `64`)
        out_channels (int, optional): Embedding size. (default: `64`)
        heads (int, optional): Attention heads. (default: `4`)

    Shapes:
        - **input:** image features $(M, F)$ and labels $(M,)$ sorted ascending
        - **output:** $(1, \text{out})$
    """

    def __init__(
        self, in_channels: int, hidden_channels: int = 64, out_channels: int = 64, heads: int = 4
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        self.hidden_channels = check_int(hidden_channels, "hidden_channels", minimum=1)
        self.out_channels = check_int(out_channels, "out_channels", minimum=1)
        self.heads = check_int(heads, "heads", minimum=1)
        h = self.hidden_channels
        self.project = nn.Linear(self.in_channels, h)
        self.within = SetTransformerAggregation(h, heads=self.heads, layer_norm=True)
        self.across = SetTransformerAggregation(h, heads=self.heads, layer_norm=True)
        self.out = nn.Linear(h + 1, self.out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises every layer."""
        self.project.reset_parameters()
        self.within.reset_parameters()
        self.across.reset_parameters()
        self.out.reset_parameters()

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        if features.dim() != 2 or labels.shape != features.shape[:1]:
            raise ValueError(
                f"features must be (M, F) with one label each, got {tuple(features.shape)} and "
                f"{tuple(labels.shape)}"
            )
        if bool((labels[1:] < labels[:-1]).any()):
            raise ValueError("labels must be sorted ascending (sample_per_class sorts them)")
        _, index = torch.unique_consecutive(labels, return_inverse=True)
        num_classes = int(index.max()) + 1
        h = F.relu(self.project(features))
        per_class = self.within(h, index, dim_size=num_classes)
        zeros = torch.zeros(num_classes, dtype=torch.long, device=h.device)
        pooled = self.across(per_class, zeros, dim_size=1)
        k = torch.full((1, 1), math.log2(num_classes) / 8, device=h.device, dtype=h.dtype)
        return self.out(torch.cat([pooled, k], dim=-1))

    def __repr__(self) -> str:
        name = self.__class__.__name__
        return f"{name}({self.in_channels}, {self.out_channels}, heads={self.heads})"


__all__ = [
    "FEATURIZERS",
    "ConvFeatures",
    "DatasetEncoder",
    "sample_per_class",
    "standardize",
]
