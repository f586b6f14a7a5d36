"""Where the library finds the committed meta-dataset."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dassgnn.records.store import RecordStore

__all__ = ["RECORDS_ENV", "default_store_path", "open_default_store"]

RECORDS_ENV = "DASSGNN_RECORDS"
"""Environment variable that overrides [`default_store_path()`][dassgnn.records.default_store_path].
"""


def default_store_path() -> Path:
    """Returns the path of the meta-dataset the library uses without configuration.

    That is ``dassgnn/assets/records.db`` inside the installed package, unless
    the environment variable ``DASSGNN_RECORDS`` names another file.

    Returns:
        Path: The path (the file may not exist).
    """
    env = os.environ.get(RECORDS_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "assets" / "records.db"


def open_default_store(readonly: bool = True, **kwargs: Any) -> RecordStore:
    """Opens the store at [`default_store_path()`][dassgnn.records.default_store_path].

    Args:
        readonly (bool, optional): Open read-only (works in a read-only
            installation). (default: `True`)
        **kwargs: Other arguments of [`RecordStore`][dassgnn.records.RecordStore] (``timeout``).

    Returns:
        RecordStore: The store.

    Raises:
        FileNotFoundError: If ``readonly`` and there is no store at the path.
        RecordStoreError: If the file is not a usable record store.
    """
    path = default_store_path()
    if readonly and not path.exists():
        raise FileNotFoundError(
            f"no record store at {path}: this installation ships no meta-dataset; set "
            f"{RECORDS_ENV} to the path of a store"
        )
    return RecordStore(path, readonly=readonly, **kwargs)
