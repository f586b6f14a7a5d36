r"""The record store of the KD meta-dataset: tasks, teachers, students, runs.

A [`RecordStore`][dassgnn.records.RecordStore] is one SQLite file (WAL mode, safe for several
writing
processes) holding what the collectors measured: each student's test accuracy
after knowledge distillation from a teacher (or training from scratch) on a
task, with the teacher's weights and cached embeddings. Results are never
overwritten; stores written on several machines are combined with
[`RecordStore.merge()`][dassgnn.records.RecordStore.merge]. The meta-dataset shipped with the
library is found
by [`default_store_path()`][dassgnn.records.default_store_path]::

    from dassgnn.records import open_default_store

    with open_default_store() as store:
        print(format_stats(store.stats()))
        frame = store.to_frame(mode="kd")
"""

from dassgnn.records.analysis import (
    format_dataset_summary,
    format_label_report,
    is_discriminating,
    label_report,
    task_report,
)
from dassgnn.records.codec import canonical_json
from dassgnn.records.errors import (
    OldSchemaError,
    RecordConflictError,
    RecordStoreError,
    StoreBusyError,
)
from dassgnn.records.export import EXPORT_COLUMNS, format_stats, store_stats
from dassgnn.records.lock import collector_lock, lock_path
from dassgnn.records.merge import MergeConflict, MergeReport, merge_stores
from dassgnn.records.paths import RECORDS_ENV, default_store_path, open_default_store
from dassgnn.records.rows import AddRunResult, RunKey, RunRecord, StudentRecord, TeacherRecord
from dassgnn.records.schema import MIGRATIONS, SCHEMA_VERSION
from dassgnn.records.store import RecordStore

__all__ = [
    "EXPORT_COLUMNS",
    "MIGRATIONS",
    "RECORDS_ENV",
    "SCHEMA_VERSION",
    "AddRunResult",
    "MergeConflict",
    "MergeReport",
    "OldSchemaError",
    "RecordConflictError",
    "RecordStore",
    "RecordStoreError",
    "RunKey",
    "RunRecord",
    "StoreBusyError",
    "StudentRecord",
    "TeacherRecord",
    "canonical_json",
    "collector_lock",
    "default_store_path",
    "format_dataset_summary",
    "format_label_report",
    "format_stats",
    "is_discriminating",
    "label_report",
    "lock_path",
    "merge_stores",
    "open_default_store",
    "store_stats",
    "task_report",
]
