"""Scatter reductions, with [torch-scatter](https://github.com/rusty1s/pytorch_scatter)
when it is installed and a pure-PyTorch fallback otherwise.

As in PyTorch Geometric (``torch_geometric.typing.WITH_TORCH_SCATTER``), the
module-level flag `WITH_TORCH_SCATTER` says which path is taken; tests
switch it off to exercise the fallback.
"""

from __future__ import annotations

import torch
from torch import Tensor

try:
    import torch_scatter

    WITH_TORCH_SCATTER = True
except (ImportError, OSError):  # OSError: a build that does not match the installed torch
    torch_scatter = None
    WITH_TORCH_SCATTER = False


def _check(src: Tensor, index: Tensor, dim_size: int | None) -> int:
    if index.dim() != 1 or index.shape[0] != src.shape[0]:
        raise ValueError(
            f"index must be 1-D with one entry per row of src, got index of shape "
            f"{tuple(index.shape)} for src of shape {tuple(src.shape)}"
        )
    if index.numel() and int(index.min()) < 0:
        raise ValueError(f"index must be non-negative, got minimum {int(index.min())}")
    size = int(index.max()) + 1 if index.numel() else 0
    if dim_size is None:
        return size
    if dim_size < size:
        raise ValueError(f"dim_size={dim_size} is smaller than the largest index + 1 ({size})")
    return dim_size


def scatter_sum(src: Tensor, index: Tensor, dim_size: int | None = None) -> Tensor:
    r"""Sums the rows of ``src`` that share an ``index``.

    Args:
        src (Tensor): $(N, *)$ values.
        index (Tensor): $(N,)$ group of each row.
        dim_size (int, optional): Number of groups. (default: ``index.max() + 1``)

    Returns:
        Tensor: $(\text{dim\_size}, *)$.
    """
    size = _check(src, index, dim_size)
    if WITH_TORCH_SCATTER and src.numel():
        return torch_scatter.scatter(src, index, dim=0, dim_size=size, reduce="sum")
    out = src.new_zeros((size, *src.shape[1:]))
    return out.index_add_(0, index, src)


def scatter_mean(src: Tensor, index: Tensor, dim_size: int | None = None) -> Tensor:
    r"""Averages the rows of ``src`` that share an ``index``; empty groups are 0.

    Args:
        src (Tensor): $(N, *)$ floating values.
        index (Tensor): $(N,)$ group of each row.
        dim_size (int, optional): Number of groups. (default: ``index.max() + 1``)

    Returns:
        Tensor: $(\text{dim\_size}, *)$.
    """
    size = _check(src, index, dim_size)
    if WITH_TORCH_SCATTER and src.numel():
        return torch_scatter.scatter(src, index, dim=0, dim_size=size, reduce="mean")
    total = src.new_zeros((size, *src.shape[1:])).index_add_(0, index, src)
    count = torch.zeros(size, dtype=src.dtype, device=src.device)
    count.index_add_(0, index, torch.ones_like(index, dtype=src.dtype))
    return total / count.clamp_min(1).view(-1, *([1] * (src.dim() - 1)))
