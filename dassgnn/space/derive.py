"""What every space shares when it reads a trained network: the image channels and classes of a
convolutional classifier, and the error a space raises for a module it cannot take.

A space that can be derived from a trained teacher implements
[`from_module()`][dassgnn.space.SearchSpace.from_module] (and
[`from_state_dict()`][dassgnn.space.SearchSpace.from_state_dict] for checkpoints); the
search tries every registered space in turn
([`space_for_teacher()`][dassgnn.search.space_for_teacher]).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn


class UnsupportedModuleError(ValueError):
    """A module or state dict that a search space cannot take as its teacher (the message
    says why).

    Args:
        message (str): What is not supported, e.g. ``"layer1.0 is a Bottleneck block"``.
        expects (str, optional): Set where the module is of another kind altogether rather
            than a variant of the space's kind it rejects: what the space takes, as a noun
            phrase such as ``"the library's ResNet"``; the error raised when no space takes a
            module lists these. (default: `None`, the module is of the space's kind)
    """

    def __init__(self, message: str, *, expects: str | None = None) -> None:
        super().__init__(message)
        self.expects = expects


def _layers(module: nn.Module) -> tuple[tuple[str, nn.Conv2d], tuple[str, nn.Linear]]:
    if not isinstance(module, nn.Module):
        raise TypeError(f"expected an nn.Module, got {type(module).__name__}")
    convs = [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Conv2d)]
    linears = [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Linear)]
    missing = [what for what, found in (("Conv2d", convs), ("Linear", linears)) if not found]
    if missing:
        raise TypeError(
            f"the network must be a convolutional classifier (its first Conv2d takes the "
            f"images, its last Linear gives the classes), but the {type(module).__name__} has "
            f"no {' and no '.join(missing)}"
        )
    return convs[0], linears[-1]


def classifier_head(module: nn.Module) -> nn.Linear:
    """The classifier of a convolutional network: its last `nn.Linear`.

    Args:
        module (nn.Module): The network.

    Returns:
        nn.Linear: The head.

    Raises:
        TypeError: If ``module`` is not a module, or has no `nn.Conv2d` or no `nn.Linear`.
    """
    return _layers(module)[1][1]


def classifier_shape(module: nn.Module) -> tuple[int, int]:
    """``(in_channels, num_classes)`` of a convolutional classifier: its first `nn.Conv2d`'s
    input channels and its last `nn.Linear`'s outputs. The one place the library guesses the
    shape of a trained teacher.

    Args:
        module (nn.Module): The network.

    Returns:
        tuple[int, int]: The image channels and the classes.

    Raises:
        TypeError: If ``module`` is not a module, or has no `nn.Conv2d` or no `nn.Linear`.
    """
    (_, conv), (_, head) = _layers(module)
    return conv.in_channels, head.out_features


def state_dict_shape(space: Any, state: Mapping[str, Tensor]) -> tuple[int, int]:
    """``(in_channels, num_classes)`` of the teacher of ``space`` whose weights are ``state``:
    read from the tensors of the first `nn.Conv2d` and the last `nn.Linear` of the space's
    teacher network (as [`classifier_shape()`][dassgnn.space.classifier_shape] reads a module),
    built on the ``meta`` device, so nothing is allocated.

    Args:
        space (SearchSpace): The space the state dict was found to hold.
        state (Mapping[str, Tensor]): The teacher's weights.

    Returns:
        tuple[int, int]: The image channels and the classes.

    Raises:
        ValueError: If ``state`` lacks the weight of that convolution or of that head, or
            it is not a tensor of the right number of dimensions.
    """
    with torch.device("meta"):
        probe = space.build(space.teacher, 1, 1)
    (conv, _), (head, _) = _layers(probe)
    out = []
    for name, dims, what, axis in ((conv, 4, "first convolution", 1), (head, 2, "head", 0)):
        key = f"{name}.weight" if name else "weight"
        value = state.get(key)
        if value is None:
            raise ValueError(f"the state dict has no {key} (the {what}) that {space!r} needs")
        if not isinstance(value, Tensor) or value.dim() != dims:
            shape = tuple(getattr(value, "shape", ()))
            raise ValueError(f"the state dict's {key} (the {what}) has shape {shape}, not {dims}-D")
        out.append(int(value.shape[axis]))
    return out[0], out[1]
