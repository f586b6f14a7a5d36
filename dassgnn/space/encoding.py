r"""Fixed-size encodings of an [`Arch`][dassgnn.space.Arch]: the flat choice vector of the
original DaSS code (the default of
[`SearchSpace.flat_encoding()`][dassgnn.space.SearchSpace.flat_encoding]), and the integer
genotype of spaces whose members are a depth per stage and one of a few choices per block (the
ResNet spaces' [`genotype()`][dassgnn.space.ResNetSpace.genotype])."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from dassgnn.space.arch import Arch

FLAT_STAGES, FLAT_DEPTH = 6, 6
"""Slots of the flat encoding: at most this many stages of at most this many blocks."""

FLAT_SIZE = FLAT_STAGES * (2 + FLAT_DEPTH)
"""Size of the flat encoding, 48: per stage slot, a presence flag, the relative depth and
one value per block slot."""


def flat_vector(arch: Arch, teacher: Arch, num_choices: int | None = None) -> Tensor:
    """The choice vector of an architecture, as the original DaSS code encodes it: a
    $6 \\times 8$ grid, flattened, whose row $s$ is, for a stage of ``arch``, a 1 (the stage
    is there), its depth over the teacher's, and each block's choice over ``num_choices``
    (0 in the slots of absent stages and blocks).

    Args:
        arch (Arch): The architecture.
        teacher (Arch): The teacher of its space (sets the maximum depths).
        num_choices (int, optional): The value of a full block choice, 16 for widths in
            sixteenths. (default: `None`, the teacher's largest choice in the stage)

    Returns:
        Tensor: float32 $(48,)$ ([`FLAT_SIZE`][dassgnn.space.encoding.FLAT_SIZE]).

    Raises:
        ValueError: If ``arch`` has more than 6 stages or a stage of more than 6 blocks (the
            encoding would cut it off).
    """
    deepest = max(arch.depths)
    if arch.num_stages > FLAT_STAGES or deepest > FLAT_DEPTH:
        raise ValueError(
            f"arch {arch.id!r} has {arch.num_stages} stages of up to {deepest} blocks; the flat "
            f"encoding holds at most {FLAT_STAGES} stages of {FLAT_DEPTH} blocks (use the graph "
            "encoder for larger architectures)"
        )
    out = torch.zeros(FLAT_STAGES, 2 + FLAT_DEPTH)
    for s, (d, ws) in enumerate(zip(arch.depths, arch.widths, strict=True)):
        full = num_choices if num_choices is not None else max(teacher.widths[s])
        out[s, 0] = 1.0
        out[s, 1] = d / teacher.depths[s]
        for b, w in enumerate(ws):
            out[s, 2 + b] = w / full
    return out.flatten()


def grid_bounds(depths: Sequence[int], num_choices: int) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the genotype of a grid of stages of at most ``depths[s]`` blocks, each with
    one of ``num_choices`` choices: per stage its depth ($1 \\dots D_s$), then, per block
    slot, the index of its choice ($0 \\dots$ ``num_choices`` $- 1$).

    Returns:
        tuple[np.ndarray, np.ndarray]: The int64 lower and upper bounds, inclusive.
    """
    lower: list[int] = []
    upper: list[int] = []
    for d in depths:
        lower += [1] + [0] * d
        upper += [d] + [num_choices - 1] * d
    return np.array(lower, dtype=np.int64), np.array(upper, dtype=np.int64)


def grid_encode(depths: Sequence[int], choices: Sequence[int], arch: Arch) -> np.ndarray:
    """The genotype of ``arch`` (see [`grid_bounds()`][dassgnn.space.encoding.grid_bounds]):
    its depths and the indices of its block choices in ``choices``, 0 in the unused slots.

    Returns:
        np.ndarray: int64 $(\\sum_s (1 + D_s),)$.
    """
    out: list[int] = []
    for d_max, d, ws in zip(depths, arch.depths, arch.widths, strict=True):
        out += [d] + [choices.index(w) for w in ws] + [0] * (d_max - d)
    return np.array(out, dtype=np.int64)


def grid_decode(depths: Sequence[int], choices: Sequence[int], x: np.ndarray) -> Arch:
    """The architecture of a genotype, rounded and clipped into its bounds first (slots
    beyond a stage's depth are ignored); not canonicalised."""
    lower, upper = grid_bounds(depths, len(choices))
    v = np.asarray(x, dtype=np.float64).reshape(-1)
    if v.shape != lower.shape:
        raise ValueError(f"a genotype has {lower.size} entries, got {v.size}")
    v = np.clip(np.rint(v), lower, upper).astype(np.int64)
    out_depths, widths, i = [], [], 0
    for d_max in depths:
        d = int(v[i])
        out_depths.append(d)
        widths.append(tuple(choices[int(j)] for j in v[i + 1 : i + 1 + d]))
        i += 1 + d_max
    return Arch(tuple(out_depths), tuple(widths))
