"""Bring your own teacher: the search space of a trained network, read from the module or
from a checkpoint file.

Every registered space that can be derived from a trained network
([`SearchSpace.from_module()`][dassgnn.space.SearchSpace.from_module] and
[`from_state_dict()`][dassgnn.space.SearchSpace.from_state_dict]) is tried in turn, and the
first that takes the teacher is its space. The library's spaces take:

- the library's [`ResNet`][dassgnn.space.ResNet] (a
  [`ResNetSpace`][dassgnn.space.ResNetSpace] with its channels and strides);
- a torchvision-style BasicBlock ResNet (``conv1``/``bn1``/``maxpool`` stem, ``layer1`` ...
  ``layerL`` of BasicBlocks with ``downsample`` shortcuts, ``fc``), such as torchvision's
  ResNet-18 or ResNet-34 with any number of classes (a
  [`TorchvisionResNetSpace`][dassgnn.space.TorchvisionResNetSpace]).

Anything else gets an [`UnsupportedTeacherError`][dassgnn.search.UnsupportedTeacherError]
that says what is not supported (a Bottleneck block, grouped or dilated convolutions, another
normalisation, an unknown layer, ...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dassgnn.space import (
    SPACES,
    SearchSpace,
    UnsupportedModuleError,
    classifier_shape,
    state_dict_shape,
)

__all__ = [
    "TeacherCheckpointError",
    "UnsupportedTeacherError",
    "load_teacher",
    "space_for_teacher",
    "teacher_shape",
]


class UnsupportedTeacherError(UnsupportedModuleError):
    """A teacher that no search space of the library can take (the message says why)."""


class TeacherCheckpointError(ValueError):
    """A teacher checkpoint file that does not load or holds no known layout."""


def teacher_shape(model: nn.Module) -> tuple[int, int]:
    """``(image channels, classes)`` of a network: its first convolution's input channels
    and its last linear layer's outputs
    ([`classifier_shape()`][dassgnn.space.classifier_shape]).

    Raises:
        TypeError: If ``model`` has no `nn.Conv2d` or no `nn.Linear`.
    """
    return classifier_shape(model)


def _derive(method: str, *args: Any, **kwargs: Any) -> tuple[SearchSpace | None, list[Exception]]:
    """The first registered space that the classmethod ``method`` of a space class gives, and
    what the classes before it raised: an `UnsupportedModuleError` or `ValueError` each
    (spaces that cannot be derived, raising `NotImplementedError`, are left out)."""
    errors: list[Exception] = []
    for name in SPACES.list():
        derive = getattr(SPACES.get(name), method, None)
        if derive is None:
            continue
        try:
            return derive(*args, **kwargs), errors
        except NotImplementedError:
            continue
        except ValueError as error:
            errors.append(error)
    return None, errors


def _fits(error: Exception) -> bool:
    """Whether a space raised ``error`` for a teacher of its own kind."""
    return getattr(error, "expects", None) is None


def space_for_teacher(model: nn.Module) -> tuple[SearchSpace, nn.Module]:
    """The search space spanned by a trained teacher, and the teacher as that space's network.

    The space is read from the module itself by the first registered space whose
    [`from_module()`][dassgnn.space.SearchSpace.from_module] takes it: for the library's
    [`ResNet`][dassgnn.space.ResNet] its channels and strides; for a torchvision-style
    BasicBlock ResNet its stem, layers, widths, depths and strides (a
    [`TorchvisionResNetSpace`][dassgnn.space.TorchvisionResNetSpace]). The returned module
    is built by the space from its teacher architecture and holds ``model``'s weights
    (checked to compute the same outputs), so students get the weights with
    [`remap()`][dassgnn.space.SearchSpace.remap].

    Args:
        model (nn.Module): The trained teacher (torchvision itself is not needed).

    Returns:
        tuple[SearchSpace, nn.Module]: The space and the teacher as its network (on the CPU,
        in eval mode).

    Raises:
        TypeError: If ``model`` is not an `nn.Module`.
        UnsupportedTeacherError: If it cannot be mapped (the message says what is not
            supported).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"teacher must be an nn.Module, got {type(model).__name__}")
    space, errors = _derive("from_module", model)
    if space is None:
        own = [e for e in errors if _fits(e)]
        if own:
            raise UnsupportedTeacherError(str(own[0])) from None
        found = ", ".join(f"{n} ({type(c).__name__})" for n, c in model.named_children())
        takes = " or ".join(str(getattr(e, "expects", "")) for e in errors)
        raise UnsupportedTeacherError(
            f"cannot map a teacher of type {type(model).__name__}: "
            + (f"the search spaces take {takes}" if takes else "no search space takes a module")
            + f"; its children are: {found or 'none'}"
        )
    in_channels, num_classes = classifier_shape(model)
    ours = space.build(space.teacher, num_classes, in_channels, seed=0)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    try:
        ours.load_state_dict(state)
    except RuntimeError as err:
        raise UnsupportedTeacherError(
            f"the teacher's weights do not fit {space!r}: {str(err).splitlines()[0]}"
        ) from None
    _same_function(model, ours, in_channels, 32)
    return space, ours.eval()


@torch.no_grad()
def _same_function(model: nn.Module, ours: nn.Module, channels: int, size: int) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, channels, size, size, generator=g)
    device = next(model.parameters()).device
    was_training = model.training
    try:
        out = model.eval()(x.to(device)).float().cpu()
    except Exception as error:
        raise UnsupportedTeacherError(
            f"the teacher ({type(model).__name__}) failed on a {tuple(x.shape)} input "
            f"({type(error).__name__}: {str(error).splitlines()[0][:200]}): its forward() is "
            "not that of its space's networks"
        ) from None
    finally:
        model.train(was_training)
    expected = ours.eval()(x)
    if out.shape != expected.shape or not torch.allclose(out, expected, rtol=1e-4, atol=1e-4):
        diff = (out - expected).abs().max().item() if out.shape == expected.shape else "shape"
        raise UnsupportedTeacherError(
            f"the teacher ({type(model).__name__}) has the layers of a supported network but "
            f"computes something else (largest difference {diff}): its forward() is not "
            "the standard one, so it cannot be mapped"
        )


# --------------------------------------------------------------------------- checkpoints


def _state_dict(data: Any, path: str) -> dict[str, Tensor]:
    if isinstance(data, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(data.get(key), Mapping):
                data = data[key]
                break
    if (
        not isinstance(data, Mapping)
        or not data
        or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in data.items())
    ):
        raise TeacherCheckpointError(
            f"teacher checkpoint {path!r} holds no state dict (a mapping of tensor names to "
            "tensors); save one with torch.save(model.state_dict(), path)"
        )
    keys = list(data)
    if all(k.startswith("module.") for k in keys):  # saved from DataParallel
        data = {k[len("module.") :]: v for k, v in data.items()}
    return dict(data)


def _load(path: str | os.PathLike[str]) -> Any:
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"no teacher checkpoint at {str(path)!r}")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as error:
        lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
        if any("Unsupported global" in ln for ln in lines):
            first = "it holds pickled Python objects (a whole module?), not only tensors"
        elif any(ln.startswith("Weights only load failed") for ln in lines):
            first = "it is not a PyTorch checkpoint of tensors"
        else:
            first = (lines or [""])[0][:200]
        raise TeacherCheckpointError(
            f"teacher checkpoint {str(path)!r} does not load with torch.load(weights_only=True) "
            f"({first}); save the weights with "
            "torch.save(model.state_dict(), path)"
        ) from None


def load_teacher(
    path: str | os.PathLike[str],
    *,
    strides: tuple[int, ...] | None = None,
    stem_stride: int | None = None,
    stem_pool: bool | None = None,
) -> nn.Module:
    """Builds a teacher from a checkpoint file: a state dict saved with ``torch.save``
    (read with ``weights_only=True``; a dict holding it under ``"state_dict"``, ``"model"``
    or ``"model_state_dict"``, and a ``"module."`` prefix, are accepted too).

    The layout is inferred from the tensor names and shapes by the first registered space
    whose [`from_state_dict()`][dassgnn.space.SearchSpace.from_state_dict] takes it: the
    library's [`ResNet`][dassgnn.space.ResNet] (``stem.conv``, ``stages.<s>.<b>``) or a
    torchvision-style BasicBlock ResNet (``conv1``, ``layer<i>.<b>``, ``downsample``). Strides
    are not stored in a state dict: the first stage keeps the resolution and each later one
    halves it, and a torchvision stem of kernel 7 has stride 2 and a max pool while a
    $3 \\times 3$ stem has stride 1 and none (the common CIFAR variant); the keyword arguments
    override this.

    Args:
        path (str or PathLike): The checkpoint.
        strides (tuple[int, ...], optional): Stride of each stage's first block.
        stem_stride (int, optional): Stride of a torchvision stem's ``conv1``.
        stem_pool (bool, optional): Whether a torchvision stem has its max pool.

    Returns:
        nn.Module: The teacher with the checkpoint's weights, in eval mode; pass it to
        [`space_for_teacher()`][dassgnn.search.space_for_teacher] or
        [`search()`][dassgnn.search.search].

    Raises:
        FileNotFoundError: If there is no file at ``path``.
        TeacherCheckpointError: If it does not load, holds no state dict, or the state dict
            has no known layout or does not fit the inferred network.
        UnsupportedTeacherError: If it holds a network no space supports, such as a
            Bottleneck ResNet.
    """
    where = f"teacher checkpoint {str(path)!r}"
    state = _state_dict(_load(path), str(path))
    hints = {"strides": strides, "stem_stride": stem_stride, "stem_pool": stem_pool}
    space, errors = _derive("from_state_dict", state, **hints)
    if space is None:
        own = [e for e in errors if _fits(e)]
        if own and isinstance(own[0], UnsupportedModuleError):
            raise UnsupportedTeacherError(f"{where}: {own[0]}") from None
        if own:
            raise TeacherCheckpointError(f"{where}: {own[0]}") from None
        layouts = [str(getattr(e, "expects", "")) for e in errors] or ["a known layout"]
        raise TeacherCheckpointError(
            f"{where} has {'neither ' if len(layouts) > 1 else 'not '}{' nor '.join(layouts)}; "
            f"its first tensors are {', '.join(list(state)[:5])}"
        )
    try:
        in_channels, num_classes = state_dict_shape(space, state)
    except ValueError as error:
        raise TeacherCheckpointError(f"{where}: {error}") from None
    model = space.build(space.teacher, num_classes, in_channels, seed=0)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        raise TeacherCheckpointError(
            f"{where} does not fit the inferred {space!r}: {' '.join(lines[1:3])[:300]}"
        ) from None
    return model.eval()
