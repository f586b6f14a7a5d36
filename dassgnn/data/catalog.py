"""The dataset registry and the data folder setting.

Datasets are created by name with [`load_dataset()`][dassgnn.data.load_dataset]. The ``.npz``
datasets ([`NPZ_DATASETS`][dassgnn.data.NPZ_DATASETS]) are read from one folder, given by
``root=``, else by the ``DASSGNN_DATA`` environment variable, else ``../shared/datasets``
beside a source checkout (see [`data_dir()`][dassgnn.data.data_dir]). The shipped
sets of `dassgnn.data.shipped` need no folder.

``fer2013`` and ``blood_cells`` are **meta-test only**
([`META_TEST_ONLY`][dassgnn.data.catalog.META_TEST_ONLY]): the predictor is scored on them as
datasets it never saw, so no meta-train or meta-validation task may use them.

Wherever a name is accepted, a path works too (an ``.npz`` file, an image folder, or a
folder with ``train/`` and ``test/``; see `dassgnn.data.paths`).

Register a new dataset with a factory that takes ``root`` (and may ignore it)::

    @DATASETS.register("my_set")
    def load_my_set(root=None):
        return from_npz(data_dir(root) / "my_set.npz")
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dassgnn.data.dataset import DatasetSplits
from dassgnn.data.loaders import from_npz
from dassgnn.data.paths import is_dataset_id, load_path
from dassgnn.registry import Registry

DATA_ENV: str = "DASSGNN_DATA"
"""The environment variable that names the data folder."""

NPZ_DATASETS: tuple[str, ...] = (
    "cifar10",
    "fashion_mnist",
    "usps",
    "omniglot_small1",
    "omniglot_small2",
    "medical_mnist",
    "simpsons_mnist",
    "chinese_mnist",
    "fer2013",
    "blood_cells",
)
"""Datasets read from ``<data_dir>/<name>.npz``: CIFAR-10, Fashion-MNIST, USPS, two Omniglot
background sets, Medical MNIST (6 CT, MRI and X-ray classes), Simpsons-MNIST (10 cartoon
characters, RGB), Chinese MNIST (15 handwritten numerals, 64 px), FER2013 (7 facial expressions,
48 px) and PBC blood cells (8 types, RGB)."""

META_TEST_ONLY: tuple[str, ...] = ("fer2013", "blood_cells")
"""Datasets kept for meta-test tasks on datasets the predictor never saw: no meta-train or
meta-validation task may use them (the committed plan's test enforces it)."""

DATASETS: Registry[DatasetSplits] = Registry("dataset")
"""Registry of dataset factories ``(root=None, **kwargs) -> DatasetSplits``."""


def checkout_data_dir() -> Path:
    """``../shared/datasets`` beside a source checkout of the library (the developers' and
    CI's layout); it need not exist."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def data_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """Returns the folder that holds the ``.npz`` datasets.

    ``root`` wins; otherwise the ``DASSGNN_DATA`` environment variable; otherwise
    ``../shared/datasets`` beside a source checkout, where that folder exists
    ([`checkout_data_dir()`][dassgnn.data.checkout_data_dir]).

    Args:
        root (str or PathLike, optional): The folder.

    Returns:
        pathlib.Path: The folder.

    Raises:
        ValueError: If none of the three gives a folder.
        FileNotFoundError: If ``root`` or ``DASSGNN_DATA`` names a folder that does not exist.
    """
    if root is not None:
        path, origin = Path(root).expanduser(), "root"
    else:
        env = os.environ.get(DATA_ENV, "")
        if not env:
            beside = checkout_data_dir()
            if beside.is_dir():
                return beside
            raise ValueError(
                f"no data folder: set the {DATA_ENV} environment variable to the folder that "
                "holds the dataset .npz files (in Python, root=... names it too; "
                "`dassgnn bench --data DIR` and `dassgnn search --data-root DIR` from the shell)"
            )
        path, origin = Path(env).expanduser(), DATA_ENV
    if not path.is_dir():
        raise FileNotFoundError(f"data folder {str(path)!r} (from {origin}) does not exist")
    return path


def is_dataset_path(name: str | os.PathLike[str]) -> bool:
    """Whether ``name`` names a dataset by its path: a path object, or a string that is not
    a registered name (names win) and where a file or folder exists.

    Args:
        name (str or PathLike): A dataset name or path.

    Returns:
        bool: `True` for a path to load with [`load_path()`][dassgnn.data.load_path].
    """
    if isinstance(name, os.PathLike):
        return True
    if not isinstance(name, str) or not name or name in DATASETS:
        return False
    return Path(name).expanduser().exists()


def unknown_dataset(name: object) -> KeyError:
    """The error for a dataset that is neither a registered name nor an existing path."""
    valid = ", ".join(list_datasets())
    return KeyError(
        f"unknown dataset {name!r}; valid names: {valid}; or give the path of an .npz file, "
        f"an image folder or a folder with train/ and test/ (no file or folder {name!r} exists)"
    )


def load_dataset(
    name: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, **kwargs: Any
) -> DatasetSplits:
    """Loads a registered dataset by name, or the dataset at a path.

    Args:
        name (str or PathLike): A name from [`list_datasets()`][dassgnn.data.list_datasets],
            or the path of an ``.npz`` file, an image folder or a folder with ``train/`` and
            ``test/`` (see [`load_path()`][dassgnn.data.load_path]).
        root (str or PathLike, optional): The data folder for file-backed
            datasets (see [`data_dir()`][dassgnn.data.data_dir]); ignored by the shipped sets
            and by paths.
        **kwargs: Passed to the dataset's factory (e.g. ``seed`` for the
            shipped sets), or to [`load_path()`][dassgnn.data.load_path] (``size``).

    Returns:
        DatasetSplits: The train and test images.

    Raises:
        KeyError: If ``name`` is neither registered nor an existing path; the message lists
            the names.
        ValueError: If a file-backed dataset has no data folder, or a path holds neither
            layout.
        FileNotFoundError: If its file is missing.
    """
    if is_dataset_path(name):
        return load_path(name, **kwargs)
    if isinstance(name, str) and name not in DATASETS:
        if is_dataset_id(name):
            raise KeyError(
                f"dataset {name!r} is the id of a dataset loaded from a path; load it from its "
                "path (a Task made on it carries the path)"
            )
        raise unknown_dataset(name)
    return DATASETS.create(os.fspath(name), root=root, **kwargs)


def list_datasets(pattern: str | None = None) -> list[str]:
    """Lists the registered dataset names.

    Args:
        pattern (str, optional): A glob pattern to filter the names.

    Returns:
        list[str]: The sorted names.
    """
    return DATASETS.list(pattern)


def _npz_factory(name: str) -> Callable[..., DatasetSplits]:
    def load(root: str | os.PathLike[str] | None = None) -> DatasetSplits:
        return from_npz(data_dir(root) / f"{name}.npz", name=name)

    load.__name__ = f"load_{name}"
    load.__doc__ = f"""Loads ``{name}`` from ``<data_dir(root)>/{name}.npz``.

    Args:
        root (str or PathLike, optional): The data folder (see
            [`data_dir()`][dassgnn.data.data_dir]).

    Returns:
        DatasetSplits: The train and test images.
    """
    return load


for _name in NPZ_DATASETS:
    DATASETS.register(_name)(_npz_factory(_name))
del _name
