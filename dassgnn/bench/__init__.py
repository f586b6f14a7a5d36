"""The benchmark suite: every ranking method on the meta-test tasks of the
records (correlation with the seed-mean KD accuracy, beside each task's
ceiling) and the students each method picks under a budget. Run it with
``python benchmarks/run.py`` or ``dassgnn bench``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dassgnn.bench.config import ALL_METHODS, CONFIGS, BenchConfig

if TYPE_CHECKING:  # imported on first use: the parser (and the CLI reference) need no torch
    from dassgnn.bench.runner import run_benchmark

__all__ = ["ALL_METHODS", "CONFIGS", "BenchConfig", "build_parser", "main", "run_benchmark"]


def _description() -> str:
    """The module text's first paragraph, as plain text for ``--help``."""
    first = (__doc__ or "").split("\n\n")[0]
    return " ".join(first.split()).replace("``", "")


def build_parser(prog: str = "dassgnn bench", docs: bool = False) -> argparse.ArgumentParser:
    """The benchmark's command-line options (with ``docs``, also ``--docs``: the options of
    ``benchmarks/run.py``)."""
    p = argparse.ArgumentParser(prog=prog, description=_description())
    p.add_argument(
        "--config", default="default", choices=sorted(CONFIGS), help="a named configuration"
    )
    p.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help=f"ranking methods (default: {' '.join(ALL_METHODS)})",
    )
    p.add_argument("--tasks", nargs="+", default=None, help="meta-test task keys or dataset names")
    p.add_argument("--data", default=None, help="folder of the .npz datasets (DASSGNN_DATA)")
    p.add_argument(
        "--records", type=Path, default=None, help="record store (default: the committed one)"
    )
    p.add_argument("--device", default=None, help="torch device (default: the config's)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="KD seeds of the pool picks")
    p.add_argument("--pool-size", type=int, default=None)
    p.add_argument("--pool-methods", nargs="*", default=None, help="methods that search the pool")
    p.add_argument(
        "--budget", type=float, default=None, help="fraction of the teacher's parameters"
    )
    p.add_argument("--bootstrap", type=int, default=None, help="bootstrap resamples")
    p.add_argument(
        "--shots",
        type=int,
        nargs="*",
        default=None,
        help="measured students k of the few-shot study (default: 0 5 10 20; none: no study)",
    )
    p.add_argument(
        "--draws", type=int, default=None, help="support sets drawn a task and k (default: 20)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results folder (default: benchmarks/results/<config>)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    if docs:
        p.add_argument(
            "--docs",
            action="store_true",
            help="also write the docs site's results page (docs/results.md and its plots)",
        )
    return p


def main(
    argv: Sequence[str] | None = None,
    results_root: Path | None = None,
    prog: str = "dassgnn bench",
    on_results: Any = None,
) -> int:
    """Runs the benchmark from command-line arguments; returns the exit status. Errors are
    one line on stderr with status 2 (``--debug`` shows the traceback).

    Args:
        argv (Sequence[str], optional): The arguments (default: ``sys.argv[1:]``).
        results_root (Path, optional): Where ``<config>/`` results go by default.
        prog (str, optional): The command's name in ``--help``. (default: `"dassgnn bench"`)
        on_results (callable, optional): Called with ``(args, results folder)`` after a
            successful run, and given ``--docs`` in the parser (``benchmarks/run.py``).
    """
    import sys

    args = build_parser(prog, docs=on_results is not None).parse_args(argv)
    try:
        return _run(args, results_root, on_results)
    except (ValueError, TypeError, KeyError, ImportError, OSError) as error:
        if args.debug:
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, results_root: Path | None, on_results: Any) -> int:
    config = CONFIGS[args.config]
    changes = {
        "methods": args.methods,
        "tasks": args.tasks,
        "device": args.device,
        "kd_seeds": args.seeds,
        "pool_size": args.pool_size,
        "pool_methods": args.pool_methods,
        "budget": args.budget,
        "bootstrap": args.bootstrap,
        "shots": args.shots,
        "draws": args.draws,
    }
    if args.methods is not None and args.pool_methods is None:
        changes["pool_methods"] = [m for m in config.pool_methods if m in args.methods]
    config = config.replace(**{k: v for k, v in changes.items() if v is not None})
    from dassgnn.ranking import list_rankers

    unknown = [m for m in config.methods if m not in list_rankers()]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; valid: {', '.join(list_rankers())}")
    from dassgnn.bench.runner import environment_data_dir, run_benchmark

    environment_data_dir(args.data)
    from dassgnn.records import RecordStore, default_store_path

    path = args.records or default_store_path()
    out = args.out or (results_root or Path("benchmarks") / "results") / config.name
    with RecordStore(path, readonly=True) as store:
        results = run_benchmark(config, store, Path(path), out, progress=not args.quiet)
    print("\n".join(results["summary"]))
    print(f"results: {out / 'results.md'} ({results['wall_seconds'] / 60:.1f} min)")
    if on_results is not None:
        on_results(args, out)
    return 0


def __getattr__(name: str) -> Any:
    if name == "run_benchmark":
        from dassgnn.bench.runner import run_benchmark

        return run_benchmark
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
