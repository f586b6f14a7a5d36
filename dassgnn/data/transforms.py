"""Shape transforms for [`ImageDataset`][dassgnn.data.ImageDataset].

Each transform accepts an [`ImageDataset`][dassgnn.data.ImageDataset] or a
[`DatasetSplits`][dassgnn.data.DatasetSplits] (applied to both splits) and returns the
same type. A transform that has nothing to do returns its input object itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from dassgnn.data.dataset import DatasetSplits, ImageDataset
from dassgnn.utils.validation import check_int

LUMA_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luminance weights for R, G and B."""

_CHUNK = 2048

D = TypeVar("D", ImageDataset, DatasetSplits)


def check_size(size: object, param: str = "size") -> int:
    """Checks that ``size`` is a positive integer.

    Args:
        size (object): The value to check.
        param (str, optional): The parameter name used in error messages.

    Returns:
        int: ``size`` as an ``int``.

    Raises:
        TypeError: If ``size`` is not an integer (``bool`` is rejected).
        ValueError: If ``size`` is not positive.
    """
    return check_int(size, param, minimum=1)


def check_channels(channels: object, param: str = "channels") -> int:
    """Checks that ``channels`` is 1 or 3.

    Args:
        channels (object): The value to check.
        param (str, optional): The parameter name used in error messages.

    Returns:
        int: ``channels`` as an ``int``.

    Raises:
        TypeError: If ``channels`` is not an integer.
        ValueError: If ``channels`` is not 1 or 3.
    """
    channels = check_int(channels, param)
    if channels not in (1, 3):
        raise ValueError(f"{param} must be 1 or 3, got {channels}")
    return channels


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resizes a ``uint8`` image batch to ``size x size``.

    Bilinear interpolation with antialiasing (`torch.nn.functional.interpolate()`)
    on ``float32`` values, rounded back to ``uint8``. The aspect ratio is not kept.

    Args:
        images (np.ndarray): ``uint8`` array of shape ``(N, H, W, C)``.
        size (int): The output height and width.

    Returns:
        np.ndarray: ``uint8`` array of shape ``(N, size, size, C)``.

    Raises:
        TypeError: If ``size`` is not an int.
        ValueError: If ``images`` is not 4-D or ``size`` is not positive.
    """
    size = check_size(size)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C), got shape {images.shape}")
    out = np.empty((images.shape[0], size, size, images.shape[3]), dtype=np.uint8)
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start : start + _CHUNK].transpose(0, 3, 1, 2)
        x = torch.from_numpy(np.array(chunk, dtype=np.float32, order="C"))
        y = F.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
        y = y.round_().clamp_(0, 255).to(torch.uint8)
        out[start : start + _CHUNK] = y.permute(0, 2, 3, 1).numpy()
    return out


def luminance(images: np.ndarray) -> np.ndarray:
    """Converts RGB images to grey with the ITU-R BT.601 weights, rounded to ``uint8``.

    Args:
        images (np.ndarray): ``uint8`` array of shape ``(..., 3)``.

    Returns:
        np.ndarray: ``uint8`` array of shape ``(..., 1)``.

    Raises:
        ValueError: If the last axis does not have length 3.
    """
    if images.shape[-1] != 3:
        raise ValueError(f"images must have 3 channels last, got shape {images.shape}")
    out = np.empty((*images.shape[:-1], 1), dtype=np.uint8)
    flat_in = images.reshape(-1, 3)
    flat_out = out.reshape(-1)
    w = np.asarray(LUMA_WEIGHTS, dtype=np.float32)
    step = _CHUNK * 1024
    for start in range(0, flat_in.shape[0], step):
        grey = flat_in[start : start + step].astype(np.float32) @ w
        flat_out[start : start + step] = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return out


def _apply(data: D, fn: Callable[[ImageDataset], ImageDataset]) -> D:
    if isinstance(data, DatasetSplits):
        train, test = fn(data.train), fn(data.test)
        if train is data.train and test is data.test:
            return data
        return DatasetSplits(train, test)  # type: ignore[return-value]
    if isinstance(data, ImageDataset):
        return fn(data)
    raise TypeError(f"dataset must be an ImageDataset or DatasetSplits, got {type(data).__name__}")


def resize(dataset: D, size: int) -> D:
    """Resizes every image to ``size x size`` (see [`resize_images()`][dassgnn.data.resize_images]).

    Args:
        dataset (ImageDataset or DatasetSplits): The images.
        size (int): The output height and width.

    Returns:
        ImageDataset or DatasetSplits: The resized images; ``dataset`` itself
        if its images are already ``size x size``.

    Raises:
        TypeError: If ``size`` is not an int or ``dataset`` has the wrong type.
        ValueError: If ``size`` is not positive.
    """
    size = check_size(size)

    def one(ds: ImageDataset) -> ImageDataset:
        if ds.image_size == (size, size):
            return ds
        return ImageDataset(resize_images(ds.images, size), ds.labels, ds.classes, ds.name)

    return _apply(dataset, one)


def to_channels(dataset: D, channels: int) -> D:
    """Converts the images to 1 (grey) or 3 (RGB) channels.

    Grey becomes RGB by repeating the channel; RGB becomes grey by the
    ITU-R BT.601 luminance (see [`luminance()`][dassgnn.data.luminance]). Grey -> RGB -> grey is
    exact.

    Args:
        dataset (ImageDataset or DatasetSplits): The images.
        channels (int): 1 or 3.

    Returns:
        ImageDataset or DatasetSplits: The converted images; ``dataset`` itself
        if they already have ``channels`` channels.

    Raises:
        TypeError: If ``channels`` is not an int or ``dataset`` has the wrong type.
        ValueError: If ``channels`` is not 1 or 3.
    """
    channels = check_channels(channels)

    def one(ds: ImageDataset) -> ImageDataset:
        if ds.channels == channels:
            return ds
        images = np.repeat(ds.images, 3, axis=3) if channels == 3 else luminance(ds.images)
        return ImageDataset(images, ds.labels, ds.classes, ds.name)

    return _apply(dataset, one)


def prepare(dataset: D, size: int | None = None, channels: int | None = None) -> D:
    """Brings images to a given size and channel count, doing only what is needed.

    Channels are converted before resizing when that shrinks the data (3 -> 1)
    and after otherwise, so the work is done on the fewest channels.

    Args:
        dataset (ImageDataset or DatasetSplits): The images.
        size (int, optional): The output height and width; `None` keeps it.
        channels (int, optional): 1 or 3; `None` keeps it.

    Returns:
        ImageDataset or DatasetSplits: The prepared images; ``dataset`` itself
        if nothing had to change.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``size`` is not positive or ``channels`` not 1 or 3.
    """
    if not isinstance(dataset, ImageDataset | DatasetSplits):
        raise TypeError(
            f"dataset must be an ImageDataset or DatasetSplits, got {type(dataset).__name__}"
        )
    if size is not None:
        size = check_size(size)
    if channels is not None:
        channels = check_channels(channels)
    out = dataset
    if channels == 1:
        out = to_channels(out, 1)
    if size is not None:
        out = resize(out, size)
    if channels == 3:
        out = to_channels(out, 3)
    return out
