"""The settings of the ResNet spaces read off a trained network or its state dict, behind
[`ResNetSpace.from_module()`][dassgnn.space.ResNetSpace.from_module] and
[`TorchvisionResNetSpace.from_module()`][dassgnn.space.TorchvisionResNetSpace.from_module]
(and their ``from_state_dict``).

Two kinds of teacher are read: the library's [`ResNet`][dassgnn.space.ResNet], and a
torchvision-style BasicBlock ResNet (``conv1``/``bn1``/``maxpool`` stem, ``layer1`` ...
``layerL`` of BasicBlocks with ``downsample`` shortcuts, ``fc``), such as torchvision's
ResNet-18 or ResNet-34 with any number of classes. Anything else gets an
[`UnsupportedModuleError`][dassgnn.space.UnsupportedModuleError] that says what is not
supported (a Bottleneck block, grouped or dilated convolutions, another normalisation, an
unknown layer, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from dassgnn.space.derive import UnsupportedModuleError
from dassgnn.space.modules import ChannelShortcut, ResNet

LIBRARY_RESNET = "the library's ResNet"
"""What [`ResNetSpace.from_module()`][dassgnn.space.ResNetSpace.from_module] takes."""

TV_RESNET = (
    "a torchvision-style BasicBlock ResNet (children conv1, bn1, maxpool, layer1..layerN, fc)"
)
"""What [`TorchvisionResNetSpace.from_module()`][dassgnn.space.TorchvisionResNetSpace.from_module]
takes."""

_TV_CHILDREN = {"conv1", "bn1", "relu", "maxpool", "avgpool", "fc"}
_LIB_BLOCK = re.compile(r"^stages\.(\d+)\.(\d+)\.conv1\.weight$")
_TV_BLOCK = re.compile(r"^layer(\d+)\.(\d+)\.conv1\.weight$")
_TV_BOTTLENECK = re.compile(r"^layer\d+\.\d+\.conv3\.weight$")


def resnet_settings(module: nn.Module) -> dict[str, Any]:
    """The settings of the [`ResNetSpace`][dassgnn.space.ResNetSpace] whose teacher is the
    library's [`ResNet`][dassgnn.space.ResNet] ``module``: its widths, depths and strides.

    Raises:
        UnsupportedModuleError: If ``module`` is not a ``ResNet`` (with ``expects``), or is
            a student (a stage of several widths).
    """
    if not isinstance(module, ResNet):
        raise UnsupportedModuleError(
            f"a ResNetSpace derives from {LIBRARY_RESNET} (dassgnn.space.ResNet), got a "
            f"{type(module).__name__}",
            expects=LIBRARY_RESNET,
        )
    widths = []
    for s, stage in enumerate(module.channels):
        if len(set(stage)) != 1:
            raise UnsupportedModuleError(
                f"stage {s} of the ResNet has blocks of widths {list(stage)}: it is a "
                "student, not a teacher (a teacher's stage has one width)"
            )
        widths.append(stage[0])
    return {
        "widths": widths,
        "depths": [len(c) for c in module.channels],
        "strides": list(module.strides),
    }


def resnet_state_settings(
    state: Mapping[str, Tensor], strides: Sequence[int] | None = None
) -> dict[str, Any]:
    """The settings of the [`ResNetSpace`][dassgnn.space.ResNetSpace] whose teacher's state
    dict is ``state`` (``stem.conv``, ``stages.<s>.<b>``); strides are not stored: by default
    the first stage keeps the resolution and each later one halves it.

    Raises:
        UnsupportedModuleError: If ``state`` is not in this layout (with ``expects``).
        ValueError: If its stages or blocks are not consecutive or a stage has several widths.
    """
    if "stem.conv.weight" not in state:
        raise UnsupportedModuleError(
            "the state dict has no stem.conv.weight: not the library's ResNet",
            expects="the library's ResNet layout (stem.conv.weight, stages.<s>.<b>...)",
        )
    widths, depths = _stage_list(state, _LIB_BLOCK, 0)
    return {"widths": widths, "depths": depths, "strides": _strides(strides, len(widths))}


def tv_state_settings(
    state: Mapping[str, Tensor],
    strides: Sequence[int] | None = None,
    stem_stride: int | None = None,
    stem_pool: bool | None = None,
) -> dict[str, Any]:
    """The settings of the [`TorchvisionResNetSpace`][dassgnn.space.TorchvisionResNetSpace]
    whose teacher's state dict is ``state`` (``conv1``, ``layer<i>.<b>``, ``downsample``).
    Strides are not stored: by default the first layer keeps the resolution and each later one
    halves it, and a stem of kernel 7 has stride 2 and a max pool while a $3 \\times 3$ stem
    has stride 1 and none (the common CIFAR variant).

    Raises:
        UnsupportedModuleError: If ``state`` is not in this layout (with ``expects``), or
            holds a Bottleneck ResNet.
        ValueError: If its layers or blocks are not consecutive or a layer has several widths.
    """
    if any(_TV_BOTTLENECK.match(k) for k in state):
        raise UnsupportedModuleError(
            "the state dict holds a Bottleneck ResNet (conv3 in its blocks, ResNet-50 and "
            "larger); only BasicBlock ResNets (ResNet-18/34 layouts) are supported"
        )
    if "conv1.weight" not in state or not any(_TV_BLOCK.match(k) for k in state):
        raise UnsupportedModuleError(
            "the state dict has no conv1.weight and layer<i>.<b>: not a torchvision ResNet",
            expects="a torchvision ResNet's layout (conv1.weight, layer<i>.<b>...)",
        )
    widths, depths = _stage_list(state, _TV_BLOCK, 1)
    k = int(state["conv1.weight"].shape[-1])
    return {
        "widths": widths,
        "depths": depths,
        "strides": _strides(strides, len(widths)),
        "stem_width": int(state["conv1.weight"].shape[0]),
        "stem_kernel": k,
        "stem_stride": stem_stride if stem_stride is not None else (2 if k >= 7 else 1),
        "stem_pool": stem_pool if stem_pool is not None else k >= 7,
    }


def _strides(strides: Sequence[int] | None, stages: int) -> list[int]:
    return list(strides) if strides else [1] + [2] * (stages - 1)


def _stage_list(
    state: Mapping[str, Tensor], pattern: re.Pattern[str], start: int
) -> tuple[list[int], list[int]]:
    blocks: dict[int, dict[int, int]] = {}
    for key, value in state.items():
        m = pattern.match(key)
        if m:
            blocks.setdefault(int(m.group(1)), {})[int(m.group(2))] = int(value.shape[0])
    stages = sorted(blocks)
    if stages != list(range(start, start + len(stages))):
        raise ValueError(f"stages {stages} are not consecutive")
    widths, depths = [], []
    for s in stages:
        blk = blocks[s]
        if sorted(blk) != list(range(len(blk))) or len(set(blk.values())) != 1:
            raise ValueError(
                f"stage {s} has blocks {sorted(blk)} of widths {sorted(set(blk.values()))}; a "
                "teacher's stage has blocks 0..n-1 of one width"
            )
        widths.append(blk[0])
        depths.append(len(blk))
    return widths, depths


# --------------------------------------------------------------------------- torchvision modules


def _conv(module: Any, where: str, kernel: int | None = None) -> nn.Conv2d:
    if not isinstance(module, nn.Conv2d):
        raise UnsupportedModuleError(f"{where} is a {type(module).__name__}, not a Conv2d")
    if module.groups != 1:
        raise UnsupportedModuleError(
            f"{where} is a grouped convolution (groups={module.groups}); grouped convolutions "
            "(ResNeXt, depthwise) are not supported"
        )
    if module.dilation != (1, 1):
        raise UnsupportedModuleError(f"{where} is dilated ({module.dilation}); not supported")
    if module.bias is not None:
        raise UnsupportedModuleError(f"{where} has a bias; ResNet convolutions have none")
    if kernel is not None and module.kernel_size != (kernel, kernel):
        raise UnsupportedModuleError(
            f"{where} has a {module.kernel_size} kernel; a BasicBlock has {kernel}x{kernel}"
        )
    return module


def _bn(module: Any, where: str) -> None:
    if type(module) is not nn.BatchNorm2d:
        raise UnsupportedModuleError(
            f"{where} is a {type(module).__name__}; only BatchNorm2d normalisation is supported"
        )


def tv_settings(model: nn.Module) -> dict[str, Any]:
    """The settings of the [`TorchvisionResNetSpace`][dassgnn.space.TorchvisionResNetSpace]
    whose teacher is the torchvision-style BasicBlock ResNet ``model``: its stem, widths,
    depths and strides.

    Raises:
        UnsupportedModuleError: If ``model`` lacks the children of that layout (with
            ``expects``), or has them but something is not supported (the message says what).
    """
    names = dict(model.named_children())
    layers = sorted(
        (int(m.group(1)), child)
        for name, child in names.items()
        if (m := re.fullmatch(r"layer(\d+)", name))
    )
    missing = [n for n in ("conv1", "bn1", "fc") if n not in names]
    if missing or not layers:
        found = ", ".join(f"{n} ({type(c).__name__})" for n, c in names.items()) or "none"
        raise UnsupportedModuleError(
            f"a TorchvisionResNetSpace derives from {TV_RESNET}; the {type(model).__name__}'s "
            f"children are: {found}",
            expects=TV_RESNET,
        )
    if [i for i, _ in layers] != list(range(1, len(layers) + 1)):
        raise UnsupportedModuleError(f"the layers are {[i for i, _ in layers]}, not 1..N")
    unknown = set(names) - _TV_CHILDREN - {f"layer{i}" for i, _ in layers}
    for name in sorted(unknown):
        child = names[name]
        if any(True for _ in child.parameters()) or not isinstance(child, nn.Dropout):
            raise UnsupportedModuleError(
                f"the teacher has an unknown layer {name!r} ({type(child).__name__}); a "
                "torchvision-style ResNet has only conv1, bn1, relu, maxpool, layer1..N, "
                "avgpool and fc"
            )
    stem = _conv(names["conv1"], "conv1")
    k = stem.kernel_size[0]
    if stem.kernel_size != (k, k) or stem.padding != (k // 2, k // 2) or k % 2 == 0:
        raise UnsupportedModuleError(
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
            raise UnsupportedModuleError(
                f"maxpool is {pool}; torchvision's MaxPool2d(3, stride=2, padding=1) is supported"
            )
    elif not isinstance(pool, nn.Identity):
        raise UnsupportedModuleError(f"maxpool is a {type(pool).__name__}; not supported")
    if not isinstance(names["fc"], nn.Linear):
        raise UnsupportedModuleError(f"fc is a {type(names['fc']).__name__}, not a Linear")
    widths, depths, strides = [], [], []
    prev = stem.out_channels
    for i, layer in layers:
        blocks = list(layer.children()) if isinstance(layer, nn.Sequential) else None
        if not blocks:
            raise UnsupportedModuleError(f"layer{i} is not a non-empty Sequential of blocks")
        for b, block in enumerate(blocks):
            where = f"layer{i}.{b}"
            parts, width, stride = _tv_block(block, where, prev)
            if b == 0:
                widths.append(width)
                strides.append(stride)
            elif width != widths[-1] or stride != 1:
                raise UnsupportedModuleError(
                    f"{where} has {width} channels and stride {stride}; the blocks "
                    "after a layer's first keep its width and resolution"
                )
            _tv_downsample(
                parts.get("downsample"), where, stride, b == 0 and (stride != 1 or prev != width)
            )
            prev = width
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


def _tv_block(block: nn.Module, where: str, prev: int) -> tuple[dict[str, Any], int, int]:
    """The children, width and stride of a torchvision BasicBlock taking ``prev`` channels."""
    parts = dict(block.named_children())
    if "conv3" in parts:
        raise UnsupportedModuleError(
            f"{where} is a Bottleneck block ({type(block).__name__}: conv1, conv2, "
            "conv3); only BasicBlock ResNets (ResNet-18/34 layouts) are supported"
        )
    shortcut = parts.pop("shortcut", None)  # a TVResNet's own: identity in a teacher
    if shortcut is not None and not (
        isinstance(shortcut, ChannelShortcut) and shortcut.is_identity
    ):
        raise UnsupportedModuleError(
            f"{where}.shortcut changes the channels or resolution: the network is a "
            "student, not a teacher"
        )
    extra = set(parts) - {"conv1", "bn1", "conv2", "bn2", "relu", "downsample"}
    if extra or "conv1" not in parts or "conv2" not in parts:
        raise UnsupportedModuleError(
            f"{where} ({type(block).__name__}) is not a BasicBlock: it has {sorted(parts)}"
        )
    conv1 = _conv(parts["conv1"], f"{where}.conv1", 3)
    conv2 = _conv(parts["conv2"], f"{where}.conv2", 3)
    _bn(parts.get("bn1"), f"{where}.bn1")
    _bn(parts.get("bn2"), f"{where}.bn2")
    stride = conv1.stride[0]
    if conv1.in_channels != prev or conv2.stride != (1, 1) or conv1.stride != (stride, stride):
        raise UnsupportedModuleError(f"{where} does not chain as a BasicBlock does")
    return parts, conv1.out_channels, stride


def _tv_downsample(ds: Any, where: str, stride: int, needs: bool) -> None:
    if ds is not None:
        mods = list(ds.children()) if isinstance(ds, nn.Sequential) else []
        if len(mods) != 2:
            raise UnsupportedModuleError(
                f"{where}.downsample is not a Sequential of a 1x1 Conv2d and a BatchNorm2d"
            )
        conv = _conv(mods[0], f"{where}.downsample.0", 1)
        _bn(mods[1], f"{where}.downsample.1")
        if conv.stride != (stride, stride):
            raise UnsupportedModuleError(f"{where}.downsample has another stride")
    if (ds is not None) != needs:
        what = "has a downsample it does not need" if ds is not None else "lacks a downsample"
        raise UnsupportedModuleError(f"{where} {what}; not a torchvision layout")
