"""Loaders that build [`ImageDataset`][dassgnn.data.ImageDataset] objects from common sources.

* [`from_npz()`][dassgnn.data.from_npz]: a ``.npz`` file with ``x_train``, ``x_test``, ``y_train``,
  ``y_test`` and ``classes`` (the layout of the ``DASSGNN_DATA`` folder).
* [`from_arrays()`][dassgnn.data.from_arrays]: numpy arrays or torch tensors.
* [`from_torchvision()`][dassgnn.data.from_torchvision]: a ``torchvision``-style dataset
(duck-typed;
  ``torchvision`` itself is not needed).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from dassgnn.data.dataset import DatasetSplits, ImageDataset
from dassgnn.data.folder import pil_to_array, stack_images
from dassgnn.data.transforms import check_size, resize

NPZ_KEYS: tuple[str, ...] = ("x_train", "x_test", "y_train", "y_test", "classes")
"""The keys an image ``.npz`` file must hold."""

_LAYOUTS = ("auto", "NHWC", "NCHW", "NHW")


# --------------------------------------------------------------------------- npz


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a .npz is a zip archive (empty or not)


@functools.lru_cache(maxsize=8)
def _read_npz(path: str, mtime_ns: int, size: int) -> tuple[np.ndarray, ...]:
    # ``mtime_ns`` and ``size`` are part of the cache key so that a changed file is re-read.
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head not in _ZIP_MAGIC:
        kind = "a NumPy .npy array" if head == b"\x93NUM" else "not a zip archive"
        raise ValueError(
            f"{path!r} is not a NumPy .npz archive ({kind}); write one with "
            "np.savez(path, x_train=..., x_test=..., y_train=..., y_test=..., classes=...)"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise ValueError(
                    f"npz file {path!r} lacks the keys {missing}; an image .npz needs "
                    f"{list(NPZ_KEYS)}"
                )
            arrays = tuple(f[k] for k in NPZ_KEYS)
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise ValueError(
                f"npz file {path!r} holds object arrays; 'classes' must be a str array"
            ) from err
        raise
    for a in arrays:
        a.flags.writeable = False
    return arrays


def clear_cache() -> None:
    """Forgets the ``.npz`` files that [`from_npz()`][dassgnn.data.from_npz] has read.

    Returns:
        None
    """
    _read_npz.cache_clear()


def from_npz(path: str | Path, name: str | None = None) -> DatasetSplits:
    """Loads train and test images from a ``.npz`` file.

    The file holds ``x_train`` and ``x_test`` (``uint8``, ``(N, H, W, C)``,
    ``C`` in 1/3), ``y_train`` and ``y_test`` (integers in ``[0, K)``) and
    ``classes`` (``K`` strings). Files are cached in memory by resolved path,
    modification time and size, so loading a file twice reads it once; the
    cached arrays are read-only.

    Args:
        path (str or Path): The file.
        name (str, optional): The dataset name; defaults to the file's stem.

    Returns:
        DatasetSplits: The train and test images.

    Raises:
        FileNotFoundError: If there is no file at ``path``.
        ValueError: If keys are missing or the arrays are invalid.
        TypeError: If an array has the wrong dtype.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"no .npz file at path {str(p)!r}")
    resolved = p.resolve()
    stat = resolved.stat()
    x_train, x_test, y_train, y_test, classes = _read_npz(
        str(resolved), stat.st_mtime_ns, stat.st_size
    )
    if classes.ndim != 1 or classes.dtype.kind not in "US":
        raise ValueError(
            f"npz file {str(p)!r}: classes must be a 1-D str array, got dtype {classes.dtype} "
            f"and shape {classes.shape}"
        )
    names = tuple(str(c) for c in classes.tolist())
    name = name if name is not None else p.stem
    parts = []
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        try:
            parts.append(ImageDataset(x, y, names, name))
        except (TypeError, ValueError) as err:
            raise type(err)(f"npz file {str(p)!r}, x_{split}/y_{split}: {err}") from err
    return DatasetSplits(*parts)


# ------------------------------------------------------------------------ arrays


def _to_numpy(value: Any, param: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    if param == "y" and isinstance(value, Sequence | range) and not isinstance(value, str):
        return np.asarray(value)
    raise TypeError(f"{param} must be a numpy.ndarray or torch.Tensor, got {type(value).__name__}")


def _default_classes(labels: np.ndarray) -> tuple[str, ...]:
    return tuple(str(i) for i in range(int(labels.max()) + 1)) if labels.size else ()


def from_arrays(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor | Sequence[int],
    classes: Sequence[str] | None = None,
    *,
    name: str = "arrays",
    layout: str = "auto",
) -> ImageDataset:
    """Builds a dataset from an image array and labels.

    Only ``uint8`` images are accepted, so that the value range is never
    guessed. The layout is detected from the shape when ``layout="auto"``:

    * 3-D ``(N, H, W)``: greyscale;
    * 4-D with last axis 1 or 3: ``(N, H, W, C)`` (channels last wins a tie);
    * 4-D with axis 1 of length 1 or 3: ``(N, C, H, W)``.

    Pass ``layout="NCHW"`` (or ``"NHWC"``, ``"NHW"``) to override the detection.

    Args:
        x (np.ndarray or torch.Tensor): ``uint8`` images.
        y (np.ndarray, torch.Tensor or Sequence[int]): Integer labels ``(N,)``.
        classes (Sequence[str], optional): Class names; defaults to
            ``"0", "1", ..., str(max(y))``.
        name (str, optional): The dataset name. (default: `"arrays"`)
        layout (str, optional): ``"auto"``, ``"NHWC"``, ``"NCHW"`` or ``"NHW"``.
            (default: `"auto"`)

    Returns:
        ImageDataset: The images in ``(N, H, W, C)`` layout.

    Raises:
        TypeError: If ``x`` is not ``uint8`` (the message says how to convert)
            or ``y`` is not integer.
        ValueError: If the shape fits no layout, or see [`ImageDataset`][dassgnn.data.ImageDataset].
    """
    if layout not in _LAYOUTS:
        raise ValueError(f"layout must be one of {list(_LAYOUTS)}, got {layout!r}")
    x = _to_numpy(x, "x")
    if x.dtype != np.uint8:
        raise TypeError(
            f"x must have dtype uint8, got {x.dtype}; convert values in [0, 1] with "
            "(x * 255).round().astype(np.uint8) and values in [0, 255] with "
            "x.round().astype(np.uint8)"
        )
    if layout == "auto":
        if x.ndim == 3:
            layout = "NHW"
        elif x.ndim == 4 and x.shape[3] in (1, 3):
            layout = "NHWC"
        elif x.ndim == 4 and x.shape[1] in (1, 3):
            layout = "NCHW"
        else:
            raise ValueError(
                f"x must have shape (N, H, W), (N, H, W, C) or (N, C, H, W) with C in {{1, 3}}, "
                f"got shape {x.shape}"
            )
    expected_ndim = 3 if layout == "NHW" else 4
    if x.ndim != expected_ndim:
        raise ValueError(f"x must be {expected_ndim}-D for layout {layout!r}, got shape {x.shape}")
    if layout == "NHW":
        x = x[..., None]
    elif layout == "NCHW":
        x = x.transpose(0, 2, 3, 1)
    y = _to_numpy(y, "y")
    if y.dtype.kind not in "iu":
        raise TypeError(f"y must have an integer dtype, got {y.dtype}")
    classes = tuple(classes) if classes is not None else _default_classes(y)
    return ImageDataset(np.ascontiguousarray(x), y, classes, name)


# ------------------------------------------------------------------- torchvision


def _item_to_array(image: Any, where: str) -> np.ndarray:
    if isinstance(image, Image.Image):
        return pil_to_array(image)
    if isinstance(image, torch.Tensor | np.ndarray):
        arr = _to_numpy(image, "image")
        if arr.dtype != np.uint8:
            raise TypeError(
                f"{where} is a {arr.dtype} {type(image).__name__}, not uint8; build the dataset "
                "without ToTensor()/Normalize() transforms so that it yields PIL images or uint8 "
                "arrays"
            )
        if arr.ndim == 2:
            return arr[..., None]
        if arr.ndim == 3 and isinstance(image, torch.Tensor) and arr.shape[0] in (1, 3):
            return np.ascontiguousarray(arr.transpose(1, 2, 0))  # CHW tensor
        if arr.ndim == 3 and arr.shape[2] in (1, 3):
            return arr  # HWC array
        raise ValueError(
            f"{where} must be (H, W), (H, W, C) or, for a tensor, (C, H, W) with C in {{1, 3}}, "
            f"got shape {arr.shape}"
        )
    raise TypeError(
        f"{where} must be a PIL image, numpy array or torch tensor, got {type(image).__name__}"
    )


def _label_to_int(label: Any, where: str) -> int:
    if isinstance(label, torch.Tensor | np.ndarray):
        count = label.numel() if isinstance(label, torch.Tensor) else label.size
        if count != 1:
            raise TypeError(f"{where} must be one integer label, got shape {tuple(label.shape)}")
        label = label.item()
    if isinstance(label, bool) or not isinstance(label, int | np.integer):
        raise TypeError(f"{where} must be an integer label, got {type(label).__name__} {label!r}")
    return int(label)


def from_torchvision(
    ds: Any,
    *,
    name: str | None = None,
    classes: Sequence[str] | None = None,
    size: int | None = None,
) -> ImageDataset:
    """Converts a ``torchvision``-style dataset without needing ``torchvision``.

    Fast path: if ``ds`` has ``data`` (array or tensor, ``(N, H, W)`` or
    ``(N, H, W, C)``), ``targets`` and ``classes`` (as ``MNIST``,
    ``FashionMNIST`` and ``CIFAR10`` do), they are used directly through
    [`from_arrays()`][dassgnn.data.from_arrays]; the dataset's ``transform`` is then not applied.

    Otherwise ``ds[i]`` is read for ``i < len(ds)`` and must return
    ``(image, label)`` with a PIL image, a ``uint8`` ``(H, W[, C])`` array or a
    ``uint8`` ``(C, H, W)`` tensor, and an integer label. Float tensors (from
    ``ToTensor()``) are rejected rather than rescaled by guesswork.

    Args:
        ds (Any): The dataset.
        name (str, optional): The dataset name; defaults to the type name in lower case.
        classes (Sequence[str], optional): Class names; defaults to
            ``ds.classes`` or ``"0", "1", ...``.
        size (int, optional): Resize every image to ``size x size``; without it
            all images must have the same size.

    Returns:
        ImageDataset: The images.

    Raises:
        TypeError: If an item or label has the wrong type.
        ValueError: If ``ds`` is empty, or shapes are invalid or differ.
    """
    name = name if name is not None else type(ds).__name__.lower()
    if size is not None:
        size = check_size(size)
    if all(hasattr(ds, a) for a in ("data", "targets", "classes")):
        names = classes if classes is not None else [str(c) for c in ds.classes]
        out = from_arrays(ds.data, ds.targets, names, name=name)
        return resize(out, size) if size is not None else out
    n = len(ds)
    if n == 0:
        raise ValueError(f"ds is empty: len(ds) == 0 for {name!r}")
    arrays, sources, labels = [], [], []
    for i in range(n):
        item = ds[i]
        where = f"ds[{i}]"
        if not isinstance(item, tuple | list) or len(item) < 2:
            raise TypeError(f"{where} must be an (image, label) pair, got {type(item).__name__}")
        arrays.append(_item_to_array(item[0], f"{where}[0]"))
        labels.append(_label_to_int(item[1], f"{where}[1]"))
        sources.append(where)
    images = stack_images(arrays, sources, size, None)
    y = np.asarray(labels, dtype=np.int64)
    if classes is None:
        ds_classes = getattr(ds, "classes", None)
        classes = [str(c) for c in ds_classes] if ds_classes is not None else _default_classes(y)
    return ImageDataset(images, y, tuple(classes), name)
