"""Bring your own teacher: the search space of a trained network, read from the module or
from a checkpoint file.

Two kinds of teacher map onto a space:

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
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dassgnn.space import (
    ChannelShortcut,
    ResNet,
    ResNetSpace,
    SearchSpace,
    TorchvisionResNetSpace,
)

__all__ = ["TeacherCheckpointError", "UnsupportedTeacherError", "load_teacher", "space_for_teacher"]

_TV_CHILDREN = {"conv1", "bn1", "relu", "maxpool", "avgpool", "fc"}


class UnsupportedTeacherError(ValueError):
    """A teacher that no search space of the library can take (the message says why)."""


class TeacherCheckpointError(ValueError):
    """A teacher checkpoint file that does not load or holds no known layout."""


def _conv(module: Any, where: str, kernel: int | None = None) -> nn.Conv2d:
    if not isinstance(module, nn.Conv2d):
        raise UnsupportedTeacherError(f"{where} is a {type(module).__name__}, not a Conv2d")
    if module.groups != 1:
        raise UnsupportedTeacherError(
            f"{where} is a grouped convolution (groups={module.groups}); grouped convolutions "
            "(ResNeXt, depthwise) are not supported"
        )
    if module.dilation != (1, 1):
        raise UnsupportedTeacherError(f"{where} is dilated ({module.dilation}); not supported")
    if module.bias is not None:
        raise UnsupportedTeacherError(f"{where} has a bias; ResNet convolutions have none")
    if kernel is not None and module.kernel_size != (kernel, kernel):
        raise UnsupportedTeacherError(
            f"{where} has a {module.kernel_size} kernel; a BasicBlock has {kernel}x{kernel}"
        )
    return module


def _bn(module: Any, where: str) -> None:
    if type(module) is not nn.BatchNorm2d:
        raise UnsupportedTeacherError(
            f"{where} is a {type(module).__name__}; only BatchNorm2d normalisation is supported"
        )


def _tv_layout(model: nn.Module) -> dict[str, Any]:
    """The settings of the torchvision-style ResNet ``model`` (or an unsupported-teacher error)."""
    names = dict(model.named_children())
    layers = sorted(
        (int(m.group(1)), child)
        for name, child in names.items()
        if (m := re.fullmatch(r"layer(\d+)", name))
    )
    missing = [n for n in ("conv1", "bn1", "fc") if n not in names]
    if missing or not layers:
        found = ", ".join(f"{n} ({type(c).__name__})" for n, c in names.items()) or "none"
        raise UnsupportedTeacherError(
            f"cannot map a teacher of type {type(model).__name__}: the search spaces take the "
            "library's ResNet or a torchvision-style BasicBlock ResNet (children conv1, bn1, "
            f"maxpool, layer1..layerN, fc); its children are: {found}"
        )
    if [i for i, _ in layers] != list(range(1, len(layers) + 1)):
        raise UnsupportedTeacherError(f"the layers are {[i for i, _ in layers]}, not 1..N")
    unknown = set(names) - _TV_CHILDREN - {f"layer{i}" for i, _ in layers}
    for name in sorted(unknown):
        child = names[name]
        if any(True for _ in child.parameters()) or not isinstance(child, nn.Dropout):
            raise UnsupportedTeacherError(
                f"the teacher has an unknown layer {name!r} ({type(child).__name__}); a "
                "torchvision-style ResNet has only conv1, bn1, relu, maxpool, layer1..N, "
                "avgpool and fc"
            )
    stem = _conv(names["conv1"], "conv1")
    k = stem.kernel_size[0]
    if stem.kernel_size != (k, k) or stem.padding != (k // 2, k // 2) or k % 2 == 0:
        raise UnsupportedTeacherError(
            f"conv1 has kernel {stem.kernel_size} and padding {stem.padding}; a square odd "
            "kernel k with padding k // 2 is supported"
        )
    _bn(names["bn1"], "bn1")
    pool = names.get("maxpool", nn.Identity())
    if isinstance(pool, nn.MaxPool2d):
        if (pool.kernel_size, pool.stride, pool.padding) not in (
            (3, 2, 1),
            ((3, 3), (2, 2), (1, 1)),
        ):
            raise UnsupportedTeacherError(
                f"maxpool is {pool}; torchvision's MaxPool2d(3, stride=2, padding=1) is supported"
            )
    elif not isinstance(pool, nn.Identity):
        raise UnsupportedTeacherError(f"maxpool is a {type(pool).__name__}; not supported")
    if not isinstance(names["fc"], nn.Linear):
        raise UnsupportedTeacherError(f"fc is a {type(names['fc']).__name__}, not a Linear")
    widths, depths, strides = [], [], []
    prev = stem.out_channels
    for i, layer in layers:
        blocks = list(layer.children()) if isinstance(layer, nn.Sequential) else None
        if not blocks:
            raise UnsupportedTeacherError(f"layer{i} is not a non-empty Sequential of blocks")
        for b, block in enumerate(blocks):
            where = f"layer{i}.{b}"
            parts = dict(block.named_children())
            if "conv3" in parts:
                raise UnsupportedTeacherError(
                    f"{where} is a Bottleneck block ({type(block).__name__}: conv1, conv2, "
                    "conv3); only BasicBlock ResNets (ResNet-18/34 layouts) are supported"
                )
            shortcut = parts.pop("shortcut", None)  # a TVResNet's own: identity in a teacher
            if shortcut is not None and not (
                isinstance(shortcut, ChannelShortcut) and shortcut.is_identity
            ):
                raise UnsupportedTeacherError(
                    f"{where}.shortcut changes the channels or resolution: the network is a "
                    "student, not a teacher"
                )
            extra = set(parts) - {"conv1", "bn1", "conv2", "bn2", "relu", "downsample"}
            if extra or "conv1" not in parts or "conv2" not in parts:
                raise UnsupportedTeacherError(
                    f"{where} ({type(block).__name__}) is not a BasicBlock: it has {sorted(parts)}"
                )
            conv1, conv2 = (
                _conv(parts["conv1"], f"{where}.conv1", 3),
                _conv(parts["conv2"], f"{where}.conv2", 3),
            )
            _bn(parts.get("bn1"), f"{where}.bn1")
            _bn(parts.get("bn2"), f"{where}.bn2")
            stride = conv1.stride[0]
            if (
                conv1.in_channels != prev
                or conv2.stride != (1, 1)
                or conv1.stride != (stride, stride)
            ):
                raise UnsupportedTeacherError(f"{where} does not chain as a BasicBlock does")
            if b == 0:
                widths.append(conv1.out_channels)
                strides.append(stride)
            elif conv1.out_channels != widths[-1] or stride != 1:
                raise UnsupportedTeacherError(
                    f"{where} has {conv1.out_channels} channels and stride {stride}; the blocks "
                    "after a layer's first keep its width and resolution"
                )
            needs = b == 0 and (stride != 1 or prev != conv1.out_channels)
            ds = parts.get("downsample")
            if ds is not None:
                mods = list(ds.children()) if isinstance(ds, nn.Sequential) else []
                if len(mods) != 2:
                    raise UnsupportedTeacherError(
                        f"{where}.downsample is not a Sequential of a 1x1 Conv2d and a BatchNorm2d"
                    )
                conv = _conv(mods[0], f"{where}.downsample.0", 1)
                _bn(mods[1], f"{where}.downsample.1")
                if conv.stride != (stride, stride):
                    raise UnsupportedTeacherError(f"{where}.downsample has another stride")
            if (ds is not None) != needs:
                what = (
                    "has a downsample it does not need" if ds is not None else "lacks a downsample"
                )
                raise UnsupportedTeacherError(f"{where} {what}; not a torchvision layout")
            prev = conv1.out_channels
        depths.append(len(blocks))
    return {
        "widths": widths,
        "depths": depths,
        "strides": strides,
        "stem_width": stem.out_channels,
        "stem_kernel": k,
        "stem_stride": stem.stride[0],
        "stem_pool": isinstance(pool, nn.MaxPool2d),
    }


def teacher_shape(model: nn.Module) -> tuple[int, int]:
    """``(image channels, classes)`` of a network: its first convolution's input channels
    and its last linear layer's outputs."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return convs[0].in_channels, linears[-1].out_features


@torch.no_grad()
def _same_function(model: nn.Module, ours: nn.Module, size: int) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, teacher_shape(ours)[0], size, size, generator=g)
    device = next(model.parameters()).device
    was_training = model.training
    try:
        out = model.eval()(x.to(device)).float().cpu()
    except Exception as error:
        raise UnsupportedTeacherError(
            f"the teacher ({type(model).__name__}) failed on a {tuple(x.shape)} input "
            f"({type(error).__name__}: {str(error).splitlines()[0][:200]}): its forward() is "
            "not that of a supported ResNet"
        ) from None
    finally:
        model.train(was_training)
    expected = ours.eval()(x)
    if out.shape != expected.shape or not torch.allclose(out, expected, rtol=1e-4, atol=1e-4):
        diff = (out - expected).abs().max().item() if out.shape == expected.shape else "shape"
        raise UnsupportedTeacherError(
            f"the teacher ({type(model).__name__}) has the layers of a supported ResNet but "
            f"computes something else (largest difference {diff}): its forward() is not "
            "the standard one, so it cannot be mapped"
        )


def space_for_teacher(model: nn.Module) -> tuple[SearchSpace, nn.Module]:
    """The search space spanned by a trained teacher, and the teacher as that space's network.

    The space is read from the module itself: for the library's
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
    space: SearchSpace
    if isinstance(model, ResNet):
        widths = []
        for s, stage in enumerate(model.channels):
            if len(set(stage)) != 1:
                raise UnsupportedTeacherError(
                    f"stage {s} of the ResNet has blocks of widths {list(stage)}: it is a "
                    "student, not a teacher (a teacher's stage has one width)"
                )
            widths.append(stage[0])
        space = ResNetSpace(widths, [len(c) for c in model.channels], model.strides)
    else:
        space = TorchvisionResNetSpace(**_tv_layout(model))
    in_channels, num_classes = teacher_shape(model)
    ours = space.build(space.teacher, num_classes, in_channels, seed=0)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    try:
        ours.load_state_dict(state)
    except RuntimeError as err:
        raise UnsupportedTeacherError(
            f"the teacher's weights do not fit {space!r}: {str(err).splitlines()[0]}"
        ) from None
    _same_function(model, ours, 32)
    return space, ours.eval()


# --------------------------------------------------------------------------- checkpoints

_LIB_BLOCK = re.compile(r"^stages\.(\d+)\.(\d+)\.conv1\.weight$")
_TV_BLOCK = re.compile(r"^layer(\d+)\.(\d+)\.conv1\.weight$")


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


def _blocks(state: Mapping[str, Tensor], pattern: re.Pattern[str]) -> dict[int, dict[int, int]]:
    out: dict[int, dict[int, int]] = {}
    for key, value in state.items():
        m = pattern.match(key)
        if m:
            out.setdefault(int(m.group(1)), {})[int(m.group(2))] = int(value.shape[0])
    return out


def _stage_list(
    blocks: dict[int, dict[int, int]], start: int, path: str
) -> tuple[list[int], list[int]]:
    stages = sorted(blocks)
    if stages != list(range(start, start + len(stages))):
        raise TeacherCheckpointError(
            f"teacher checkpoint {path!r}: stages {stages} are not consecutive"
        )
    widths, depths = [], []
    for s in stages:
        blk = blocks[s]
        if sorted(blk) != list(range(len(blk))) or len(set(blk.values())) != 1:
            raise TeacherCheckpointError(
                f"teacher checkpoint {path!r}: stage {s} has blocks {sorted(blk)} of widths "
                f"{sorted(set(blk.values()))}; a teacher's stage has blocks 0..n-1 of one width"
            )
        widths.append(blk[0])
        depths.append(len(blk))
    return widths, depths


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

    The layout is inferred from the tensor names and shapes: the library's
    [`ResNet`][dassgnn.space.ResNet] (``stem.conv``, ``stages.<s>.<b>``) or a torchvision-style
    BasicBlock ResNet (``conv1``, ``layer<i>.<b>``, ``downsample``). Strides are not stored
    in a state dict: the first stage keeps the resolution and each later one halves it, and a
    torchvision stem of kernel 7 has stride 2 and a max pool while a $3 \\times 3$ stem has
    stride 1 and none (the common CIFAR variant); the keyword arguments override this.

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
            has neither layout or does not fit the inferred network.
        UnsupportedTeacherError: If it holds a Bottleneck ResNet.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"no teacher checkpoint at {str(path)!r}")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
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
    state = _state_dict(data, str(path))
    if any(re.match(r"^layer\d+\.\d+\.conv3\.weight$", k) for k in state):
        raise UnsupportedTeacherError(
            f"teacher checkpoint {str(path)!r} holds a Bottleneck ResNet (conv3 in its blocks, "
            "ResNet-50 and larger); only BasicBlock ResNets (ResNet-18/34 layouts) are supported"
        )
    space: SearchSpace
    if "stem.conv.weight" in state:
        widths, depths = _stage_list(_blocks(state, _LIB_BLOCK), 0, str(path))
        stride_list = strides or (1,) + (2,) * (len(widths) - 1)
        space = ResNetSpace(widths, depths, stride_list)
        in_channels = int(state["stem.conv.weight"].shape[1])
    elif "conv1.weight" in state and any(_TV_BLOCK.match(k) for k in state):
        widths, depths = _stage_list(_blocks(state, _TV_BLOCK), 1, str(path))
        k = int(state["conv1.weight"].shape[-1])
        space = TorchvisionResNetSpace(
            widths,
            depths,
            strides or (1,) + (2,) * (len(widths) - 1),
            stem_width=int(state["conv1.weight"].shape[0]),
            stem_kernel=k,
            stem_stride=stem_stride if stem_stride is not None else (2 if k >= 7 else 1),
            stem_pool=stem_pool if stem_pool is not None else k >= 7,
        )
        in_channels = int(state["conv1.weight"].shape[1])
    else:
        sample = ", ".join(list(state)[:5])
        raise TeacherCheckpointError(
            f"teacher checkpoint {str(path)!r} has neither the library's ResNet layout "
            "(stem.conv.weight, stages.<s>.<b>...) nor a torchvision ResNet's (conv1.weight, "
            f"layer<i>.<b>...); its first tensors are {sample}"
        )
    if "fc.weight" not in state:
        raise TeacherCheckpointError(f"teacher checkpoint {str(path)!r} has no fc.weight (head)")
    model = space.build(space.teacher, int(state["fc.weight"].shape[0]), in_channels, seed=0)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        raise TeacherCheckpointError(
            f"teacher checkpoint {str(path)!r} does not fit the inferred {space!r}: "
            f"{' '.join(lines[1:3])[:300]}"
        ) from None
    return model.eval()
