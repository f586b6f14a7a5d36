r"""Teacher → student parameter remapping, as in DaSS.

A student of a [`ResNetSpace`][dassgnn.space.ResNetSpace] is initialised from its
teacher by choosing, for every student block, a teacher block of the same
stage, and for every tensor dimension, which of the teacher's channels to
copy. Three strategies are registered in [`REMAP_STRATEGIES`][dassgnn.space.REMAP_STRATEGIES]:

- ``copy_first`` (default): the first $d$ blocks of a stage and the
  first $c$ channels of every dimension;
- ``copy_last``: the last $d$ blocks and the last $c$ channels;
- ``uniform``: blocks and channels evenly spaced over the teacher's
  (index $\lfloor i \cdot n_t / n_s \rfloor$), the uniform-stride
  selection generalised to non-integer ratios.

Convolution weights, BatchNorm weights, biases and running statistics and the
classifier's input columns are all remapped; a student identical to the
teacher receives the teacher's exact weights under every strategy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from dassgnn.registry import Registry


class RemapStrategy:
    """Chooses the teacher blocks and channels a student copies.

    Subclasses implement `indices()`; the same rule selects blocks within
    a stage and channels within a dimension.
    """

    name = "base"

    def indices(self, teacher_size: int, student_size: int) -> list[int]:
        """Which of ``teacher_size`` items the ``student_size`` student items copy."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


REMAP_STRATEGIES: Registry[RemapStrategy] = Registry("remap strategy")
"""The registry of remapping strategies: ``copy_first``, ``copy_last``, ``uniform``."""


@REMAP_STRATEGIES.register("copy_first")
class CopyFirst(RemapStrategy):
    """The first items."""

    name = "copy_first"

    def indices(self, teacher_size: int, student_size: int) -> list[int]:
        return list(range(student_size))


@REMAP_STRATEGIES.register("copy_last")
class CopyLast(RemapStrategy):
    """The last items."""

    name = "copy_last"

    def indices(self, teacher_size: int, student_size: int) -> list[int]:
        return list(range(teacher_size - student_size, teacher_size))


@REMAP_STRATEGIES.register("uniform")
class Uniform(RemapStrategy):
    """Evenly spaced items."""

    name = "uniform"

    def indices(self, teacher_size: int, student_size: int) -> list[int]:
        return [i * teacher_size // student_size for i in range(student_size)]


def list_remap_strategies() -> list[str]:
    """The names of the registered remapping strategies."""
    return REMAP_STRATEGIES.list()


_BLOCK_KEY = re.compile(r"^stages\.(\d+)\.(\d+)\.(.+)$")
# Dimensions that must match exactly: the classes of the head, the image channels of the stem.
_FIXED_DIMS = {"fc.weight": (0,), "fc.bias": (0,), "stem.conv.weight": (1,)}


def _depths(state: Mapping[str, Tensor], block_key: re.Pattern[str]) -> dict[int, int]:
    depths: dict[int, int] = {}
    for key in state:
        m = block_key.match(key)
        if m:
            s, b = int(m.group(1)), int(m.group(2))
            depths[s] = max(depths.get(s, 0), b + 1)
    return depths


def remap_blocks(
    teacher_state: Mapping[str, Tensor],
    student_state: Mapping[str, Tensor],
    strategy: str | RemapStrategy,
    *,
    block_key: re.Pattern[str],
    block_name: str,
    fixed_dims: Mapping[str, tuple[int, ...]],
    unit: str,
) -> dict[str, Tensor]:
    """Remaps a teacher's state dict onto a student's shapes, for any layout of
    stages of blocks: per stage the strategy picks the teacher's blocks, per
    tensor dimension its channels. The spaces' remappings are this with their
    layout ([`remap_state_dict`][dassgnn.space.remap_state_dict],
    [`remap_tv_state_dict`][dassgnn.space.remap_tv_state_dict]).

    Args:
        teacher_state (Mapping[str, Tensor]): The teacher's ``state_dict()``.
        student_state (Mapping[str, Tensor]): The student's; only keys and shapes are used.
        strategy (str or RemapStrategy): A name from
            [`REMAP_STRATEGIES`][dassgnn.space.REMAP_STRATEGIES] or a strategy.
        block_key (re.Pattern): Matches a block's tensor keys, with groups stage,
            block and the rest of the key.
        block_name (str): The key of a block's tensor, formatted with ``s``
            (stage), ``b`` (block) and ``rest``.
        fixed_dims (Mapping[str, tuple[int, ...]]): Dimensions of a key that must
            match exactly (the head's classes, the stem's image channels).
        unit (str): What a stage is called in error messages.

    Returns:
        dict[str, Tensor]: A state dict for the student.

    Raises:
        ValueError: If the teacher does not fit.
    """
    if isinstance(strategy, str):
        strategy = REMAP_STRATEGIES.create(strategy)
    t_depths, s_depths = _depths(teacher_state, block_key), _depths(student_state, block_key)
    if set(t_depths) != set(s_depths):
        raise ValueError(
            f"the teacher has {len(t_depths)} {unit}s but the student {len(s_depths)}: "
            "a teacher must come from the student's space"
        )
    block_map = {}
    for s, d in s_depths.items():
        if d > t_depths[s]:
            raise ValueError(
                f"{unit} {s}: the student has {d} blocks but the teacher only {t_depths[s]}"
            )
        block_map[s] = strategy.indices(t_depths[s], d)
    out = {}
    for key, target in student_state.items():
        m = block_key.match(key)
        t_key = key
        if m:
            s, b, rest = int(m.group(1)), int(m.group(2)), m.group(3)
            t_key = block_name.format(s=s, b=block_map[s][b], rest=rest)
        if t_key not in teacher_state:
            raise ValueError(f"the teacher has no tensor {t_key!r} for the student's {key!r}")
        source = teacher_state[t_key]
        if source.dim() != target.dim():
            raise ValueError(
                f"{t_key!r} has shape {tuple(source.shape)} in the teacher but {key!r} has "
                f"{tuple(target.shape)} in the student"
            )
        fixed = fixed_dims.get(key, ())
        value = source
        for dim, (n_t, n_s) in enumerate(zip(source.shape, target.shape, strict=True)):
            if n_t == n_s:
                continue
            if dim in fixed or n_s > n_t:
                raise ValueError(
                    f"the teacher does not fit the student at {key!r}: teacher shape "
                    f"{tuple(source.shape)}, student shape {tuple(target.shape)}"
                )
            index = torch.tensor(strategy.indices(n_t, n_s), device=source.device)
            value = value.index_select(dim, index)
        out[key] = value.clone().to(dtype=target.dtype)
    return out


def remap_state_dict(
    teacher_state: Mapping[str, Tensor],
    student_state: Mapping[str, Tensor],
    strategy: str | RemapStrategy = "copy_first",
) -> dict[str, Tensor]:
    """Remaps a teacher's state dict onto the shapes of a student's.

    Args:
        teacher_state (Mapping[str, Tensor]): The teacher's ``state_dict()``.
        student_state (Mapping[str, Tensor]): The student's ``state_dict()``;
            only its keys and shapes are used.
        strategy (str or RemapStrategy, optional): A name from
            [`REMAP_STRATEGIES`][dassgnn.space.REMAP_STRATEGIES] or a strategy. (default:
            `"copy_first"`)

    Returns:
        dict[str, Tensor]: A state dict for the student.

    Raises:
        ValueError: If the teacher does not fit: other stages, fewer blocks or
            channels than the student, other classes or image channels.
    """
    return remap_blocks(
        teacher_state,
        student_state,
        strategy,
        block_key=_BLOCK_KEY,
        block_name="stages.{s}.{b}.{rest}",
        fixed_dims=_FIXED_DIMS,
        unit="stage",
    )


def remap(
    teacher: nn.Module, student: nn.Module, strategy: str | RemapStrategy = "copy_first"
) -> nn.Module:
    """Initialises ``student`` in place from ``teacher`` and returns it.

    Both are networks of the same [`ResNetSpace`][dassgnn.space.ResNetSpace] (the
    teacher usually being [`teacher`][dassgnn.space.ResNetSpace.teacher]); see
    [`remap_state_dict()`][dassgnn.space.remap_state_dict] for the arguments and errors.
    """
    state = remap_state_dict(teacher.state_dict(), student.state_dict(), strategy)
    student.load_state_dict(state)
    return student
