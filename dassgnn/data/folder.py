"""Reading images with PIL: class-folder trees and single image objects.

[`from_folder()`][dassgnn.data.from_folder] reads the ``ImageFolder`` layout; the helpers here are
shared with [`from_torchvision()`][dassgnn.data.from_torchvision].
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from dassgnn.data.dataset import DatasetSplits, ImageDataset
from dassgnn.data.transforms import (
    check_channels,
    check_size,
    luminance,
    resize_images,
    to_channels,
)

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
)  # fmt: skip
"""File suffixes that [`from_folder()`][dassgnn.data.from_folder] reads (case-insensitive)."""

_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})


def pil_to_array(image: Image.Image) -> np.ndarray:
    """Converts a PIL image to a ``uint8`` ``(H, W, C)`` array.

    Greyscale modes give 1 channel, every other mode (palette included) RGB;
    alpha is dropped.

    Args:
        image (PIL.Image.Image): The image.

    Returns:
        np.ndarray: ``uint8`` array of shape ``(H, W, 1)`` or ``(H, W, 3)``.
    """
    mode = "L" if image.mode in _GREY_MODES else "RGB"
    arr = np.asarray(image.convert(mode), dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def stack_images(
    arrays: list[np.ndarray], sources: list[str], size: int | None, channels: int | None
) -> np.ndarray:
    """Stacks ``(H, W, C)`` images into one ``(N, H, W, C)`` array.

    Channels are unified (grey repeated to RGB when colour is present, unless
    ``channels`` says otherwise); with ``size`` every image is resized to
    ``size x size``, without it all must have the same size.

    Args:
        arrays (list[np.ndarray]): The ``uint8`` images.
        sources (list[str]): Where each came from, for error messages.
        size (int, optional): The output size.
        channels (int, optional): 1 or 3; by default 3 if any image is RGB.

    Returns:
        np.ndarray: ``uint8`` array ``(N, H, W, C)``.

    Raises:
        ValueError: If sizes differ and ``size`` is `None`; the message
            names the image.
    """
    if channels is None:
        channels = 3 if any(a.shape[2] == 3 for a in arrays) else 1
    out = []
    first = arrays[0].shape[:2]
    for arr, source in zip(arrays, sources, strict=True):
        if arr.shape[2] != channels:
            arr = np.repeat(arr, 3, axis=2) if channels == 3 else luminance(arr)
        if size is not None:
            if arr.shape[:2] != (size, size):
                arr = resize_images(arr[None], size)[0]
        elif arr.shape[:2] != first:
            raise ValueError(
                f"image {source} has size {arr.shape[0]}x{arr.shape[1]} but {sources[0]} has "
                f"{first[0]}x{first[1]}; pass size= to resize images on load"
            )
        out.append(arr)
    return np.stack(out)


def _read_class_folders(
    folder: Path,
    size: int | None,
    channels: int | None,
    name: str,
    extensions: Iterable[str],
) -> ImageDataset:
    exts = {e.lower() for e in extensions}
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"folder {str(folder)!r} has no class sub-folders")
    arrays, sources, labels = [], [], []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(
            f
            for f in class_dir.iterdir()
            if f.is_file() and f.suffix.lower() in exts and not f.name.startswith(".")
        )
        if not files:
            raise ValueError(
                f"class folder {str(class_dir)!r} has no image files with suffixes {sorted(exts)}"
            )
        for f in files:
            try:
                with Image.open(f) as image:
                    arrays.append(pil_to_array(image))
            except (UnidentifiedImageError, OSError) as err:
                raise ValueError(f"cannot read image file {str(f)!r}: {err}") from err
            sources.append(repr(str(f)))
            labels.append(label)
    images = stack_images(arrays, sources, size, channels)
    classes = tuple(d.name for d in class_dirs)
    return ImageDataset(images, np.asarray(labels, dtype=np.int64), classes, name)


def from_folder(
    root: str | Path,
    *,
    size: int | None = None,
    channels: int | None = None,
    name: str | None = None,
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
) -> ImageDataset | DatasetSplits:
    """Reads images from class sub-folders (the ``ImageFolder`` layout).

    ``root/<class>/<image file>``: each sub-folder is a class, classes are
    sorted by folder name and files by file name. If ``root`` holds both a
    ``train/`` and a ``test/`` folder, each is read this way and a
    [`DatasetSplits`][dassgnn.data.DatasetSplits] is returned (their class folders must match).

    Images are read with PIL. Greyscale modes become 1 channel, all others
    (including palette images) RGB; alpha is dropped. When grey and colour files
    are mixed, grey ones are repeated to RGB unless ``channels=1`` is given.

    Args:
        root (str or Path): The folder.
        size (int, optional): Resize every image to ``size x size`` on load;
            without it all images must have the same size.
        channels (int, optional): Force 1 or 3 channels.
        name (str, optional): The dataset name; defaults to the folder name.
        extensions (Iterable[str], optional): File suffixes to read.

    Returns:
        ImageDataset or DatasetSplits: The images (splits for a
        ``train/``+``test/`` folder).

    Raises:
        FileNotFoundError: If ``root`` does not exist.
        ValueError: If ``root`` is not a folder, has no class folders, a class
            folder has no images, a file cannot be read, image sizes differ
            without ``size``, or the train and test classes differ.
    """
    folder = Path(root).expanduser()
    if size is not None:
        size = check_size(size)
    if channels is not None:
        channels = check_channels(channels)
    if not folder.exists():
        raise FileNotFoundError(f"root folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise ValueError(f"root {str(folder)!r} is not a folder")
    name = name if name is not None else folder.resolve().name
    train_dir, test_dir = folder / "train", folder / "test"
    if not (train_dir.is_dir() and test_dir.is_dir()):
        return _read_class_folders(folder, size, channels, name, extensions)
    train = _read_class_folders(train_dir, size, channels, name, extensions)
    test = _read_class_folders(test_dir, size, channels, name, extensions)
    if train.classes != test.classes:
        raise ValueError(
            f"train and test class folders under {str(folder)!r} differ: "
            f"{sorted(set(train.classes) ^ set(test.classes))}"
        )
    if channels is None and train.channels != test.channels:
        train, test = to_channels(train, 3), to_channels(test, 3)
    return DatasetSplits(train, test)
