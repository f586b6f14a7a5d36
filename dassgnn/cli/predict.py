"""``dassgnn meta-train`` and ``dassgnn bench``: the predictor and its benchmark."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _meta_train(args: argparse.Namespace) -> int:
    from dassgnn.predictor import DaSSRanker
    from dassgnn.ranking import create_ranker
    from dassgnn.records import RecordStore, default_store_path

    settings: dict[str, Any] = {}
    if args.config is not None:
        settings = json.loads(Path(args.config).read_text())
        if not isinstance(settings, dict):
            raise ValueError(f"{args.config}: a predictor config is a JSON object of settings")
    for key in ("steps", "seed"):
        value = getattr(args, key)
        if value is not None:
            settings[key] = value
    val: int | list[str] = args.val_tasks if args.val_tasks is not None else 6
    method = create_ranker(args.method, val_tasks=val, progress=not args.quiet)
    if not isinstance(method, DaSSRanker):
        raise ValueError(f"{args.method} is not a learned predictor")
    if settings:  # on top of the method's own defaults (dass_pooled: meta=False, ...)
        method.config = settings
    path = args.records or default_store_path()
    with RecordStore(path, readonly=True) as store:
        method.fit(store)
    out = method.save(args.out)
    log = method.log_
    print(
        f"{args.method}: trained on {len(method.train_tasks_)} tasks, validated on "
        f"{len(method.val_tasks_)}; best mean val rho {log.best_val_rho:.3f} at step "
        f"{log.best_step}; saved {out}"
    )
    return 0


def bench_main(argv: list[str]) -> int:
    """``dassgnn bench ARGS``: the benchmark's own command line (see ``--help``)."""
    from dassgnn.bench import main

    return main(argv)


def _bench(args: argparse.Namespace) -> int:
    return bench_main(args.bench_args)


def add_parsers(sub: Any) -> None:
    """Adds ``meta-train`` and ``bench`` to the ``dassgnn`` command's subparsers."""
    p = sub.add_parser("meta-train", help="meta-train the predictor on a record store")
    p.add_argument("--records", type=Path, default=None, help="record store (default: committed)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    p.add_argument(
        "--config", type=Path, default=None, help="JSON file of PredictorConfig settings"
    )
    p.add_argument(
        "--method",
        default="dass",
        choices=["dass", "dass_pooled", "metad2a"],
        help="which learned ranking method",
    )
    p.add_argument("--steps", type=int, default=None, help="override the config's meta steps")
    p.add_argument("--seed", type=int, default=None, help="override the config's seed")
    p.add_argument("--val-tasks", type=int, default=None, help="meta-train tasks held out (6)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_meta_train)
    p = sub.add_parser(
        "bench", help="run the benchmark suite (dassgnn bench --help lists its options)"
    )
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_bench)
