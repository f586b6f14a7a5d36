"""Exceptions raised by the record store."""

from __future__ import annotations

__all__ = ["OldSchemaError", "RecordConflictError", "RecordStoreError", "StoreBusyError"]


class RecordStoreError(ValueError):
    """A record store cannot be opened, read or written as asked.

    Raised for files that are not SQLite databases, SQLite databases that are
    not dassgnn record stores, stores written by a newer schema, writes to a
    store opened read-only, and failed migrations. Subclasses `ValueError`
    so that callers that treat bad input generically still catch it.
    """


class RecordConflictError(RecordStoreError):
    """A record with the same key but different content already exists.

    The store never overwrites measured results: re-adding a key with identical
    content is a no-op, re-adding it with different content raises this error.
    """


class OldSchemaError(RecordStoreError):
    """A store of an older schema was opened read-only.

    Open it writable once to migrate it; [`RecordStore.merge()`][dassgnn.records.RecordStore.merge]
    migrates a temporary copy of such a source instead.
    """


class StoreBusyError(RecordStoreError):
    """Another collector holds the store's lock (see `dassgnn.records.lock`)."""
