"""One collector a store: an exclusive lock held for a whole collection.

SQLite already makes every write safe when several processes share a store,
but two collectors running the same plan into one store would train the same
jobs twice. [`collector_lock()`][dassgnn.records.collector_lock] takes an
exclusive ``fcntl.flock`` on a lock file beside the store (``<store>.lock``);
a second collector fails at once with
[`StoreBusyError`][dassgnn.records.StoreBusyError] instead. The operating system
releases the lock when the holder exits or is killed, so a lock is never stale;
the lock file itself stays (removing it would race with a new holder).

The lock works between processes of one machine on a local file system; it
does not coordinate collectors on several machines sharing a network folder
(run those into their own stores and merge them).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from dassgnn.records.errors import StoreBusyError

__all__ = ["collector_lock", "lock_path"]


def lock_path(store: str | os.PathLike[str]) -> Path:
    """Returns the lock file of a store: ``<store>.lock`` beside the store's real file
    (symbolic links resolved, so that every path to one store shares one lock).

    Args:
        store (str or PathLike): The store's database file.

    Returns:
        Path: The lock file's path.
    """
    path = Path(store).expanduser().resolve()
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def collector_lock(store: str | os.PathLike[str]) -> Iterator[Path]:
    """Holds the exclusive collector lock of ``store`` for the ``with`` block.

    Args:
        store (str or PathLike): The store's database file (its folder is
            created if missing).

    Yields:
        Path: The lock file.

    Raises:
        StoreBusyError: If another process holds the lock; the message names
            its process id.
    """
    import fcntl

    path = lock_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise StoreBusyError(
                f"another collector (pid {holder}) is collecting into {Path(store)}; wait for "
                "it to finish, or collect into another store and merge the two with "
                f"`dassgnn records merge` (lock file: {path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
