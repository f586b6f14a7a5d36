"""Datasets named by a path: an ``.npz`` file, an image folder, or a train/test pair of folders.

Wherever a dataset is named ([`Task`][dassgnn.data.Task], collection plans, `dassgnn search`,
[`dassgnn.search.search()`][dassgnn.search.search]) a path works as well as a registered name:

- an ``.npz`` file in the library's layout (see [`from_npz()`][dassgnn.data.from_npz]);
- a folder of class sub-folders of images (the ``ImageFolder`` layout), split into train
  and test with [`stratified_split()`][dassgnn.data.stratified_split] (a fifth of each class
  for testing, seed 0);
- a folder holding ``train/`` and ``test/`` folders of class sub-folders.

A registered name wins over a file or folder of the same name in the working directory
(write ``./digits`` for the folder). A path dataset is identified by its
[`dataset_id()`][dassgnn.data.dataset_id], ``"<file or folder name>@<12 hex digits>"``: the
name plus the SHA-1 of its content (every file's relative path and bytes), not of its
location, so the key of a task on it is the same on every machine that holds the same data,
and a task refuses to load data that changed since it was made.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path

from dassgnn.data.dataset import DatasetSplits, ImageDataset, stratified_split
from dassgnn.data.folder import IMAGE_EXTENSIONS, from_folder
from dassgnn.data.loaders import from_npz

PathLike = str | os.PathLike[str]

TEST_FRACTION = 0.2
"""The share of each class that a single image folder gives to the test split."""

ID_SEPARATOR = "@"
"""Separates the name from the content hash in a path dataset's id."""

_ID = re.compile(r"^(.+)@([0-9a-f]{12})$")


def is_dataset_id(name: str) -> bool:
    """Whether ``name`` has the form of a path dataset's id, ``"<name>@<12 hex digits>"``."""
    return isinstance(name, str) and _ID.match(name) is not None


def _files(folder: Path) -> list[Path]:
    """Every regular file under ``folder`` that is not hidden, sorted by relative path."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in filenames if not f.startswith(".")]
    return sorted((f for f in out if f.is_file()), key=lambda f: f.relative_to(folder).as_posix())


def _fingerprint(path: Path) -> tuple:
    if path.is_file():
        stat = path.stat()
        return ((stat.st_size, stat.st_mtime_ns),)
    return tuple(
        (f.relative_to(path).as_posix(), f.stat().st_size, f.stat().st_mtime_ns)
        for f in _files(path)
    )


@functools.lru_cache(maxsize=32)
def _hash(path: str, fingerprint: tuple) -> str:
    # ``fingerprint`` (sizes and modification times) is part of the cache key: a changed
    # file is hashed again.
    digest = hashlib.sha1()
    root = Path(path)
    files = [root] if root.is_file() else _files(root)
    for f in files:
        digest.update(f.relative_to(root).as_posix().encode("utf-8") + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def content_hash(path: PathLike) -> str:
    """The SHA-1 (40 hex digits) of a file's bytes, or of a folder's files (relative paths
    and bytes of every file that is not hidden, in sorted order). Cached by path, sizes and
    modification times.

    Args:
        path (str or PathLike): A file or folder.

    Returns:
        str: The hex digest.

    Raises:
        FileNotFoundError: If nothing exists at ``path``.
    """
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise FileNotFoundError(f"no dataset file or folder at path {str(path)!r}")
    return _hash(str(p), _fingerprint(p))


def dataset_id(path: PathLike) -> str:
    """The id of the dataset at ``path``: its file or folder name (characters other than
    letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``), ``@``, and the first 12 hex
    digits of its [`content_hash()`][dassgnn.data.content_hash], e.g.
    ``"flowers.npz@3f2a9c0d1e2b"``.

    Args:
        path (str or PathLike): An ``.npz`` file or an image folder.

    Returns:
        str: The id.

    Raises:
        FileNotFoundError: If nothing exists at ``path``.
    """
    p = Path(path).expanduser().resolve()
    name = re.sub(r"[^A-Za-z0-9._-]", "_", p.name) or "data"
    return f"{name}{ID_SEPARATOR}{content_hash(p)[:12]}"


def _describe(folder: Path) -> str:
    entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
    dirs = [e.name for e in entries if e.is_dir()]
    files = [e.name for e in entries if e.is_file()]
    if not entries:
        return "it is empty"
    parts = [f"{len(files)} files" if files else "no files"]
    parts.append(f"sub-folders {sorted(dirs)[:5]}" if dirs else "no sub-folders")
    return "it holds " + " and ".join(parts)


def _has_images(folder: Path) -> bool:
    exts = set(IMAGE_EXTENSIONS)
    return any(f.suffix.lower() in exts for f in folder.iterdir() if f.is_file())


def check_layout(path: PathLike) -> str:
    """Which layout the dataset at ``path`` has, without reading the images.

    Args:
        path (str or PathLike): The file or folder.

    Returns:
        str: ``"npz"``, ``"folder"`` (class sub-folders) or ``"split"`` (``train/`` and
        ``test/`` folders of class sub-folders).

    Raises:
        FileNotFoundError: If nothing exists at ``path``.
        ValueError: If it is neither layout (the message says what was found).
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"no dataset file or folder at path {str(path)!r}")
    expected = (
        "an .npz file in the library's layout (x_train, x_test, y_train, y_test, classes), "
        "a folder of class sub-folders of images, or a folder with train/ and test/ folders "
        "of them"
    )
    if p.is_file():
        if p.suffix.lower() == ".npz":
            return "npz"
        raise ValueError(
            f"data path {str(path)!r} is a {p.suffix or 'plain'} file; expected {expected}"
        )
    if (p / "train").is_dir() and (p / "test").is_dir():
        return "split"
    classes = [d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if classes and any(_has_images(d) for d in classes):
        return "folder"
    raise ValueError(
        f"data path {str(path)!r} is neither layout: {_describe(p)}; expected {expected}"
    )


def num_classes_at(path: PathLike) -> int:
    """The number of classes of the dataset at ``path``, reading only what it must (the
    class folders, or the ``classes`` array of an ``.npz``).

    Raises:
        FileNotFoundError, ValueError: See [`check_layout()`][dassgnn.data.check_layout].
    """
    p = Path(path).expanduser()
    layout = check_layout(p)
    if layout == "npz":
        return from_npz(p).num_classes
    folder = p / "train" if layout == "split" else p
    return sum(1 for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def load_path(
    path: PathLike, *, size: int | None = None, expected_id: str | None = None
) -> DatasetSplits:
    """Loads the dataset at ``path`` in whichever layout it has (see the module's text).

    Args:
        path (str or PathLike): An ``.npz`` file, a folder of class sub-folders, or a folder
            with ``train/`` and ``test/``.
        size (int, optional): Resize the images of a folder to ``size`` × ``size`` as they
            are read (folders of images of different sizes need it). (default: `None`)
        expected_id (str, optional): The [`dataset_id()`][dassgnn.data.dataset_id] the data
            must still have (a task's ``dataset``). (default: `None`, not checked)

    Returns:
        DatasetSplits: The train and test images, named by the dataset's id.

    Raises:
        FileNotFoundError: If nothing exists at ``path``.
        ValueError: If it is neither layout, a file in it cannot be read, or its content
            changed since ``expected_id`` was taken.
    """
    p = Path(path).expanduser()
    layout = check_layout(p)
    name = dataset_id(p)
    if expected_id is not None and name != expected_id:
        raise ValueError(
            f"the data at {str(path)!r} changed since the task was made: its id is now "
            f"{name!r}, the task's {expected_id!r} (content hashes differ)"
        )
    if layout == "npz":
        splits = from_npz(p, name=name)
        return splits
    data = from_folder(p, size=size, name=name)
    if isinstance(data, ImageDataset):
        try:
            return stratified_split(data, TEST_FRACTION, seed=0)
        except ValueError as err:
            raise ValueError(
                f"image folder {str(path)!r} cannot be split into train and test "
                f"({TEST_FRACTION:.0%} of each class): {err}; give it more images per class or "
                "train/ and test/ folders"
            ) from None
    return data
