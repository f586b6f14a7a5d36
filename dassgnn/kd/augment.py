"""Batched data augmentation and normalisation on image tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_crop(x: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    r"""Zero-pads every image by ``padding`` pixels and crops it back to its size
    at a random offset, independently per image.

    Args:
        x (Tensor): Images $(N, C, H, W)$, any dtype.
        padding (int): Pixels of zero padding on each side (0 returns ``x``).
        generator (torch.Generator): CPU generator for the offsets.

    Returns:
        Tensor: $(N, C, H, W)$, same dtype and device as ``x``.
    """
    if padding <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(x.device)
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)
    cols = offsets[1, :, None] + torch.arange(w, device=x.device)
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def random_hflip(x: Tensor, generator: torch.Generator) -> Tensor:
    """Flips each image horizontally with probability 1/2.

    Args:
        x (Tensor): Images $(N, C, H, W)$.
        generator (torch.Generator): CPU generator for the coin flips.
    """
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def channel_stats(images: Tensor) -> tuple[Tensor, Tensor]:
    r"""Per-channel mean and standard deviation of uint8 images $(N, C, H, W)$
    on the $[0, 1]$ scale."""
    x = images.float().div_(255)
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return mean, std


def normalize(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    r"""uint8 images $(N, C, H, W)$ to float, scaled to $[0, 1]$ and
    standardised per channel."""
    x = images.float().div_(255)
    return (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
