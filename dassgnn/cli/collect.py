"""``dassgnn collect`` and ``dassgnn records``: building and inspecting record stores."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dassgnn.utils.validation import MAX_SEED

_ONLY_FOR = {
    "group": ("batched",),
    "address": ("ray",),
    "workers": ("pool", "batched", "ray"),
}
"""The options of ``collect`` that apply to some executors only."""


def _either(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _collect(args: argparse.Namespace) -> int:
    from dassgnn.collect import Plan, collect

    for option, executors in _ONLY_FOR.items():
        if getattr(args, option) is not None and args.executor not in executors:
            raise ValueError(
                f"--{option} applies to --executor {_either(executors)}, not {args.executor}"
            )
    if args.teachers_only and args.students_only:
        raise ValueError("give --teachers-only or --students-only, not both")
    if args.teachers_only and args.seeds:
        raise ValueError("--seeds selects student runs, and --teachers-only runs none")
    plan = Plan.from_file(args.config)
    if args.role or args.seeds:
        plan = plan.select(args.role, args.seeds)
    store = args.store or plan.store
    if store is None:
        raise ValueError("give --store or set 'store' in the plan")
    kwargs = {"device": args.device}
    for option in ("workers", "threads", "address", "group"):
        if getattr(args, option) is not None:
            kwargs[option] = getattr(args, option)
    try:
        report = collect(
            plan,
            store,
            executor=args.executor,
            retry_failed=args.retry_failed,
            teachers_only=args.teachers_only,
            students_only=args.students_only,
            progress=not args.quiet,
            **kwargs,
        )
    except KeyboardInterrupt:
        import gc

        gc.collect()  # frees the terminated pool's semaphores now, not as "leaked" at exit
        print(_interrupted(store, getattr(args, "argv", None)), file=sys.stderr)
        return 130
    print(f"{plan.name}: {report}")
    for line in report.failures[:20]:
        print("  failed:", line.splitlines()[0])
    if len(report.failures) > 20:
        print(f"  ... and {len(report.failures) - 20} more failures")
    if args.checkpoint:
        from dassgnn.records import RecordStore

        with RecordStore(store) as s:
            s.checkpoint()
    problem = report.problem()
    if problem:
        print(
            f"dassgnn collect: {problem}; failed teachers are trained again by the same "
            "command, failed runs with --retry-failed",
            file=sys.stderr,
        )
        return 1
    return 0


def _interrupted(store: str | Path, argv: Sequence[str] | None) -> str:
    """The one line Ctrl-C prints: what the store keeps, and the command that resumes."""
    import shlex

    from dassgnn.records import RecordStore

    kept = "its finished runs are kept"
    with contextlib.suppress(Exception), RecordStore(store, readonly=True) as s:
        kept = f"{len(s.runs(status=None))} runs and {len(s.teachers())} teachers are kept"
    again = f"dassgnn {shlex.join(argv)}" if argv else "the same command"
    return (
        f"dassgnn collect: interrupted; {kept} in {store} (only the runs in flight are lost); "
        f"resume with: {again}"
    )


def _stats(args: argparse.Namespace) -> int:
    from dassgnn.records import RecordStore, default_store_path, format_stats

    path = args.store or default_store_path()
    with RecordStore(path, readonly=True) as store:
        print(format_stats(store.stats()))
    return 0


def _merge(args: argparse.Namespace) -> int:
    from dassgnn.records import OldSchemaError, RecordStore

    # every source is checked before the target is created or changed
    for source in args.sources:
        if not source.is_file():
            raise FileNotFoundError(f"no record store at {source}")
        if args.into.exists() and source.resolve() == args.into.resolve():
            raise ValueError(f"cannot merge the store {args.into} into itself")
        with contextlib.suppress(OldSchemaError):  # merged from a migrated temporary copy
            RecordStore(source, readonly=True).close()
    conflicts, teachers = 0, 0
    with RecordStore(args.into) as store:
        for other in args.sources:
            report = store.merge(other)
            print(report)
            conflicts += len(report.conflicts)
            teachers += sum(c.table == "teachers" for c in report.conflicts)
        if args.checkpoint:
            store.checkpoint()
    if conflicts:
        hint = (
            "; parts that train their own teachers cannot be merged: train the teachers once "
            "with `dassgnn collect --teachers-only`, copy that store to each machine and run "
            "the parts with --students-only"
            if teachers
            else ""
        )
        print(
            f"dassgnn records merge: {conflicts} conflicting records were not merged "
            f"(listed above){hint}",
            file=sys.stderr,
        )
        return 1
    return 0


def _export(args: argparse.Namespace) -> int:
    from dassgnn.records import RecordStore, default_store_path

    path = args.store or default_store_path()
    filters = {k: v for k, v in (("mode", args.mode), ("task_key", args.task)) if v}
    with RecordStore(path, readonly=True) as store:
        n = store.export_csv(args.out, **filters)
    print(f"wrote {n} runs to {args.out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from dassgnn.records import (
        RecordStore,
        default_store_path,
        format_dataset_summary,
        format_label_report,
        label_report,
    )

    path = args.store or default_store_path()
    with RecordStore(path, readonly=True) as store:
        reports = label_report(store, args.role)
    print(format_label_report(reports))
    print()
    print(format_dataset_summary(reports))
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    from dassgnn.records import RecordStore

    with RecordStore(args.store, readonly=True) as store:
        store.snapshot(args.dest, force=args.force)
    print(f"{args.store} -> {args.dest}")
    return 0


def _set_role(args: argparse.Namespace) -> int:
    from dassgnn.records import RecordStore

    with RecordStore(args.store, create=False) as store:
        old = store.set_role(args.task, args.role)
    print(f"{args.task}: role {old!r} -> {args.role!r} in {args.store}")
    return 0


def _checkpoint(args: argparse.Namespace) -> int:
    from dassgnn.records import RecordStore

    with RecordStore(args.store, create=False) as store:
        store.checkpoint(vacuum=args.vacuum)
    print(f"{args.store}: checkpointed into one file")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"a seed must be an integer in [0, 2**63 - 1] (the records keep 64-bit seeds), "
            f"got {text!r}"
        )
    return value


def add_parsers(sub: Any) -> None:
    """Adds ``collect`` and ``records`` to the ``dassgnn`` command's subparsers."""
    p = sub.add_parser("collect", help="run a collection plan into a record store")
    p.add_argument("--config", type=Path, required=True, help="plan file (.toml, .yaml)")
    p.add_argument("--store", type=Path, default=None, help="record store (default: the plan's)")
    p.add_argument("--executor", default="pool", choices=["pool", "batched", "ray", "serial"])
    p.add_argument("--group", type=_positive, default=None, help="students a program (batched)")
    p.add_argument("--workers", type=_positive, default=None, help="processes (pool, batched, ray)")
    p.add_argument("--threads", type=_positive, default=None, help="torch threads per worker")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N, mps")
    p.add_argument("--role", default=None, help="only the plan's task groups of this role")
    p.add_argument("--seeds", type=_seed, nargs="+", default=None, help="only runs of these seeds")
    p.add_argument("--address", default=None, help="Ray cluster address (ray)")
    p.add_argument("--retry-failed", action="store_true")
    only = p.add_mutually_exclusive_group()
    only.add_argument(
        "--teachers-only",
        action="store_true",
        help="train the plan's missing teachers and no student (the first step of parts)",
    )
    only.add_argument(
        "--students-only",
        action="store_true",
        help="run student jobs only; never train a teacher (a part on a copy of the "
        "teachers' store)",
    )
    p.add_argument(
        "--checkpoint",
        action="store_true",
        help="fold the WAL into the database file at the end (for committing)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_collect)

    records = sub.add_parser("records", help="inspect and combine record stores")
    rsub = records.add_subparsers(dest="records_command", required=True)
    p = rsub.add_parser("stats", help="counts of tasks, teachers, students and runs")
    p.add_argument(
        "store",
        nargs="?",
        type=Path,
        default=None,
        help="record store (default: the one shipped with dassgnn)",
    )
    p.set_defaults(func=_stats)
    p = rsub.add_parser("merge", help="merge stores into one, reporting conflicts")
    p.add_argument("into", type=Path)
    p.add_argument("sources", nargs="+", type=Path)
    p.add_argument("--checkpoint", action="store_true")
    p.set_defaults(func=_merge)
    p = rsub.add_parser("export", help="write the runs as CSV")
    p.add_argument("out", type=Path)
    p.add_argument("--store", type=Path, default=None)
    p.add_argument("--mode", choices=["kd", "scratch"], default=None)
    p.add_argument("--task", default=None, help="a task key")
    p.set_defaults(func=_export)
    p = rsub.add_parser("report", help="noise ceiling, spread and confounds of each task")
    p.add_argument("store", nargs="?", type=Path, default=None)
    p.add_argument("--role", default=None, help="only tasks of this role (e.g. meta-test)")
    p.set_defaults(func=_report)
    p = rsub.add_parser("snapshot", help="copy a live store into one file, ready to commit")
    p.add_argument("store", type=Path, help="the live store")
    p.add_argument("dest", type=Path, help="the file to write (a record store there is replaced)")
    p.add_argument(
        "--force", action="store_true", help="also replace a file that is not a record store"
    )
    p.set_defaults(func=_snapshot)
    p = rsub.add_parser("set-role", help="change a task's role (e.g. take it out of meta-training)")
    p.add_argument("store", type=Path)
    p.add_argument("task", help="a task key")
    p.add_argument("role", help="the new role, e.g. pilot-rejected")
    p.set_defaults(func=_set_role)
    p = rsub.add_parser("checkpoint", help="fold the WAL into the file (before committing it)")
    p.add_argument("store", type=Path)
    p.add_argument("--vacuum", action="store_true")
    p.set_defaults(func=_checkpoint)
