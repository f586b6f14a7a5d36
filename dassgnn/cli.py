"""The ``dassgnn`` command line: ``collect`` and ``records``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _collect(args: argparse.Namespace) -> int:
    from dassgnn.collect import Plan, collect

    plan = Plan.from_file(args.config)
    if args.role or args.seeds:
        plan = plan.select(args.role, args.seeds)
    store = args.store or plan.store
    if store is None:
        print("dassgnn collect: give --store or set 'store' in the plan", file=sys.stderr)
        return 2
    kwargs = {"device": args.device}
    if args.workers:
        kwargs["workers"] = args.workers
    if args.threads:
        kwargs["threads"] = args.threads
    if args.executor == "ray" and args.address:
        kwargs["address"] = args.address
    if args.executor == "batched" and args.group:
        kwargs["group"] = args.group
    report = collect(
        plan,
        store,
        executor=args.executor,
        retry_failed=args.retry_failed,
        progress=not args.quiet,
        **kwargs,
    )
    print(f"{plan.name}: {report}")
    for line in report.failures[:20]:
        print("  failed:", line.splitlines()[0])
    if args.checkpoint:
        from dassgnn.records import RecordStore

        with RecordStore(store) as s:
            s.checkpoint()
    return 0


def _stats(args: argparse.Namespace) -> int:
    from dassgnn.records import RecordStore, default_store_path, format_stats

    path = args.store or default_store_path()
    with RecordStore(path, readonly=True) as store:
        print(format_stats(store.stats()))
    return 0


def _merge(args: argparse.Namespace) -> int:
    from dassgnn.records import RecordStore

    with RecordStore(args.into) as store:
        for other in args.sources:
            report = store.merge(other)
            print(report)
            if not report.ok:
                for conflict in report.conflicts[:20]:
                    print("  conflict:", conflict)
        if args.checkpoint:
            store.checkpoint()
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
        store.snapshot(args.dest)
    print(f"{args.store} -> {args.dest}")
    return 0


def _checkpoint(args: argparse.Namespace) -> int:
    from dassgnn.records import RecordStore

    with RecordStore(args.store) as store:
        store.checkpoint(vacuum=args.vacuum)
    print(f"{args.store}: checkpointed into one file")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dassgnn`` command."""
    parser = argparse.ArgumentParser(prog="dassgnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("collect", help="run a collection plan into a record store")
    p.add_argument("--config", type=Path, required=True, help="plan file (.toml, .yaml)")
    p.add_argument("--store", type=Path, default=None, help="record store (default: the plan's)")
    p.add_argument("--executor", default="pool", choices=["pool", "batched", "ray", "serial"])
    p.add_argument("--group", type=int, default=None, help="students a program (batched)")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker")
    p.add_argument("--device", default="cpu")
    p.add_argument("--role", default=None, help="only the plan's task groups of this role")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="only runs of these seeds")
    p.add_argument("--address", default=None, help="Ray cluster address")
    p.add_argument("--retry-failed", action="store_true")
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
    p.add_argument("store", type=Path)
    p.add_argument("dest", type=Path)
    p.set_defaults(func=_snapshot)
    p = rsub.add_parser("checkpoint", help="fold the WAL into the file (before committing it)")
    p.add_argument("store", type=Path)
    p.add_argument("--vacuum", action="store_true")
    p.set_defaults(func=_checkpoint)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dassgnn`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, KeyError, FileNotFoundError) as error:
        print(f"dassgnn {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
