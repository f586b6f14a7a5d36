"""In-memory image-classification datasets.

An [`ImageDataset`][dassgnn.data.ImageDataset] holds ``N`` images as one ``uint8`` array of shape
``(N, H, W, C)`` (channels last, ``C`` is 1 or 3), their ``int64`` labels and
the class names. A [`DatasetSplits`][dassgnn.data.DatasetSplits] pairs a train and a test dataset
that
share their classes and image shape.

Both are frozen: the arrays they hold are read-only views, so a dataset (or a
cached file behind it) cannot be corrupted through them. Every operation
returns a new object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dassgnn.utils.validation import readonly


def validate_class_ids(
    class_ids: Any, num_classes: int | None, param: str = "class_ids"
) -> np.ndarray:
    """Checks a selection of class ids.

    Args:
        class_ids (Sequence[int]): The ids to check.
        num_classes (int, optional): The number of classes they index into;
            `None` only requires the ids to be non-negative.
        param (str, optional): The parameter name used in error messages.

    Returns:
        np.ndarray: The ids as an ``int64`` array, in the order given.

    Raises:
        TypeError: If an id is not an integer.
        ValueError: If fewer than 2 ids are given, an id is duplicated or an id
            lies outside ``[0, num_classes)``.
    """
    ids = np.asarray(class_ids)
    if ids.ndim != 1:
        raise ValueError(f"{param} must be a flat sequence of class ids, got shape {ids.shape}")
    if ids.size and ids.dtype.kind not in "iu":
        raise TypeError(f"{param} must hold integers, got dtype {ids.dtype}: {list(class_ids)!r}")
    ids = ids.astype(np.int64)
    if ids.size < 2:
        raise ValueError(f"{param} must select at least 2 classes, got {ids.size}: {ids.tolist()}")
    if num_classes is None:
        bad = ids[ids < 0]
        if bad.size:
            raise ValueError(f"{param} must be >= 0, got {int(bad[0])} in {ids.tolist()}")
    else:
        bad = ids[(ids < 0) | (ids >= num_classes)]
        if bad.size:
            raise ValueError(
                f"{param} must lie in [0, {num_classes}), got {int(bad[0])} in {ids.tolist()}"
            )
    uniq, counts = np.unique(ids, return_counts=True)
    if uniq.size != ids.size:
        raise ValueError(f"{param} contains duplicates {uniq[counts > 1].tolist()}: {ids.tolist()}")
    return ids


@dataclass(frozen=True, eq=False)
class ImageDataset:
    r"""Images with integer class labels, held in memory.

    Equality and hashing are by identity (the arrays are not compared).

    Args:
        images (np.ndarray): ``uint8`` array of shape ``(N, H, W, C)`` with
            ``C`` in ``{1, 3}``. Stored as a read-only view.
        labels (np.ndarray): Integer array of shape ``(N,)`` with values in
            ``[0, K)``. Any integer dtype is accepted and converted to ``int64``.
        classes (Sequence[str]): The ``K`` distinct class names; stored as a tuple.
        name (str, optional): A name for messages and ``repr``.
            (default: `"unnamed"`)

    Raises:
        TypeError: If ``images`` is not a ``uint8`` array, ``labels`` is not an
            integer array or a class name is not a string.
        ValueError: If a shape is wrong, the dataset is empty, a label lies
            outside ``[0, K)``, class names repeat, or fewer than 2 classes are
            present (single-class).
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    name: str = "unnamed"

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if not isinstance(images, np.ndarray):
            raise TypeError(f"images must be a numpy.ndarray, got {type(images).__name__}")
        if images.dtype != np.uint8:
            raise TypeError(f"images must have dtype uint8, got {images.dtype}")
        if images.ndim != 4 or images.shape[3] not in (1, 3):
            raise ValueError(
                f"images must have shape (N, H, W, C) with C in {{1, 3}}, got shape {images.shape}"
            )
        if images.shape[0] == 0:
            raise ValueError(f"images is empty: got shape {images.shape}")
        if images.shape[1] == 0 or images.shape[2] == 0:
            raise ValueError(f"images must have H, W > 0, got shape {images.shape}")
        if not isinstance(labels, np.ndarray):
            raise TypeError(f"labels must be a numpy.ndarray, got {type(labels).__name__}")
        if labels.dtype.kind not in "iu":
            raise TypeError(f"labels must have an integer dtype, got {labels.dtype}")
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"labels must have shape ({images.shape[0]},) to match images, "
                f"got shape {labels.shape}"
            )
        classes = self.classes
        if isinstance(classes, str) or not isinstance(classes, Sequence | np.ndarray):
            raise TypeError(f"classes must be a sequence of str, got {type(classes).__name__}")
        classes = tuple(classes.tolist() if isinstance(classes, np.ndarray) else classes)
        for c in classes:
            if not isinstance(c, str):
                raise TypeError(f"classes must hold str, got {type(c).__name__} {c!r}")
        if not classes:
            raise ValueError("classes is empty: got ()")
        if len(set(classes)) != len(classes):
            dups = sorted({c for c in classes if classes.count(c) > 1})
            raise ValueError(f"classes contains duplicate names {dups}")
        lo, hi = labels.min(), labels.max()
        if lo < 0 or hi >= len(classes):
            bad = int(lo) if lo < 0 else int(hi)
            raise ValueError(
                f"labels must lie in [0, {len(classes)}) for {len(classes)} classes, "
                f"got label {bad}"
            )
        present = np.flatnonzero(np.bincount(labels.astype(np.int64), minlength=len(classes)))
        if present.size < 2:
            raise ValueError(
                f"labels are single-class: only class {int(present[0])} "
                f"({classes[present[0]]!r}) is present; a dataset needs at least 2 classes"
            )
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty str, got {self.name!r}")
        object.__setattr__(self, "images", readonly(images))
        object.__setattr__(self, "labels", readonly(labels.astype(np.int64, copy=False)))
        object.__setattr__(self, "classes", classes)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        # Rebuild through the constructor so that unpickled arrays are read-only again.
        return (self.__class__, (self.images, self.labels, self.classes, self.name))

    @property
    def num_classes(self) -> int:
        """int: The number of classes ``K`` (some may have no images)."""
        return len(self.classes)

    @property
    def image_size(self) -> tuple[int, int]:
        """tuple[int, int]: The image height and width ``(H, W)``."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    @property
    def channels(self) -> int:
        """int: The number of channels ``C`` (1 or 3)."""
        return int(self.images.shape[3])

    def class_counts(self) -> np.ndarray:
        """Counts the images of each class.

        Returns:
            np.ndarray: ``int64`` array of shape ``(K,)``.
        """
        return np.bincount(self.labels, minlength=self.num_classes).astype(np.int64)

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageDataset:
        """Selects images by position, keeping the classes.

        Args:
            indices (Sequence[int] or np.ndarray): Integer positions in
                ``[0, N)`` (in the order wanted) or a boolean mask of length ``N``.

        Returns:
            ImageDataset: The selected images.

        Raises:
            TypeError: If ``indices`` is neither integer nor boolean.
            ValueError: If ``indices`` is empty, out of range or a mask of the
                wrong length, or selects a single class.
        """
        idx = np.asarray(indices)
        n = len(self)
        if idx.size == 0:
            raise ValueError("indices is empty: a subset needs at least one image")
        if idx.dtype == np.bool_:
            if idx.shape != (n,):
                raise ValueError(f"a boolean indices mask must have shape ({n},), got {idx.shape}")
            idx = np.flatnonzero(idx)
        elif idx.dtype.kind not in "iu":
            raise TypeError(f"indices must be integers or a boolean mask, got dtype {idx.dtype}")
        if idx.ndim != 1:
            raise ValueError(f"indices must be 1-D, got shape {idx.shape}")
        bad = idx[(idx < 0) | (idx >= n)]
        if bad.size:
            raise ValueError(f"indices must lie in [0, {n}), got {int(bad[0])}")
        return ImageDataset(self.images[idx], self.labels[idx], self.classes, self.name)

    def select_classes(self, class_ids: Sequence[int]) -> ImageDataset:
        """Keeps the images of some classes and relabels them ``0..k-1``.

        Class ``class_ids[j]`` becomes label ``j``; the class names follow.

        Args:
            class_ids (Sequence[int]): At least 2 distinct ids in ``[0, K)``.

        Returns:
            ImageDataset: The selected classes, relabelled.

        Raises:
            ValueError: If the ids are invalid (see `validate_class_ids()`)
                or the selected classes hold fewer than 2 classes' images.
        """
        ids = validate_class_ids(class_ids, self.num_classes)
        mapping = np.full(self.num_classes, -1, dtype=np.int64)
        mapping[ids] = np.arange(ids.size)
        new = mapping[self.labels]
        keep = new >= 0
        if not keep.any():
            raise ValueError(f"class_ids {ids.tolist()} select no images of {self.name!r}")
        names = tuple(self.classes[i] for i in ids)
        return ImageDataset(self.images[keep], new[keep], names, self.name)

    def tensors(
        self, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Copies the data into tensors.

        Args:
            device (torch.device or str, optional): Where to put them.

        Returns:
            tuple[torch.Tensor, torch.Tensor]: ``uint8`` images of shape
            ``(N, C, H, W)`` and ``int64`` labels of shape ``(N,)``.
        """
        x = torch.from_numpy(np.array(self.images.transpose(0, 3, 1, 2), order="C", copy=True))
        y = torch.from_numpy(np.array(self.labels, copy=True))
        return x.to(device), y.to(device)

    def __repr__(self) -> str:
        h, w = self.image_size
        return (
            f"{self.__class__.__name__}(name={self.name!r}, n={len(self)}, "
            f"size={h}x{w}x{self.channels}, classes={self.num_classes})"
        )


@dataclass(frozen=True, eq=False)
class DatasetSplits:
    """A train and a test [`ImageDataset`][dassgnn.data.ImageDataset] with the same classes and
    image shape.

    Args:
        train (ImageDataset): The training images.
        test (ImageDataset): The test images.

    Raises:
        TypeError: If either is not an [`ImageDataset`][dassgnn.data.ImageDataset].
        ValueError: If their class names or image shapes differ.
    """

    train: ImageDataset
    test: ImageDataset

    def __post_init__(self) -> None:
        for param in ("train", "test"):
            value = getattr(self, param)
            if not isinstance(value, ImageDataset):
                raise TypeError(f"{param} must be an ImageDataset, got {type(value).__name__}")
        if self.train.classes != self.test.classes:
            raise ValueError(
                f"train and test must have the same classes, got {self.train.classes} "
                f"and {self.test.classes}"
            )
        shapes = [d.images.shape[1:] for d in (self.train, self.test)]
        if shapes[0] != shapes[1]:
            raise ValueError(
                f"train and test must have the same image shape (H, W, C), got {shapes[0]} "
                f"and {shapes[1]}"
            )

    @property
    def name(self) -> str:
        """str: The name of the training set."""
        return self.train.name

    @property
    def classes(self) -> tuple[str, ...]:
        """tuple[str, ...]: The class names."""
        return self.train.classes

    @property
    def num_classes(self) -> int:
        """int: The number of classes."""
        return self.train.num_classes

    @property
    def image_size(self) -> tuple[int, int]:
        """tuple[int, int]: The image height and width."""
        return self.train.image_size

    @property
    def channels(self) -> int:
        """int: The number of channels."""
        return self.train.channels

    def map(self, fn: Callable[[ImageDataset], ImageDataset]) -> DatasetSplits:
        """Applies ``fn`` to both splits.

        Args:
            fn (Callable[[ImageDataset], ImageDataset]): The function.

        Returns:
            DatasetSplits: ``DatasetSplits(fn(train), fn(test))``.
        """
        return DatasetSplits(fn(self.train), fn(self.test))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(train={self.train!r}, test={self.test!r})"


def stratified_split(
    dataset: ImageDataset, test_fraction: float = 0.2, *, seed: int = 0
) -> DatasetSplits:
    """Splits a dataset into train and test sets with the same class proportions.

    Uses `sklearn.model_selection.train_test_split()` with ``stratify``;
    both parts keep the original order of the images.

    Args:
        dataset (ImageDataset): The images to split.
        test_fraction (float, optional): The share of each class that goes to
            the test set, in ``(0, 1)``. (default: `0.2`)
        seed (int, optional): The random state. (default: `0`)

    Returns:
        DatasetSplits: The two parts.

    Raises:
        TypeError: If ``dataset`` is not an [`ImageDataset`][dassgnn.data.ImageDataset].
        ValueError: If ``test_fraction`` is not in ``(0, 1)`` or a class has
            too few images to stratify.
    """
    from sklearn.model_selection import train_test_split

    if not isinstance(dataset, ImageDataset):
        raise TypeError(f"dataset must be an ImageDataset, got {type(dataset).__name__}")
    if isinstance(test_fraction, bool) or not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    index = np.arange(len(dataset))
    train, test = train_test_split(
        index, test_size=float(test_fraction), stratify=dataset.labels, random_state=seed
    )
    return DatasetSplits(dataset.subset(np.sort(train)), dataset.subset(np.sort(test)))
