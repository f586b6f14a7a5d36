"""``dassgnn search``: the best students of a teacher checkpoint on a dataset, in a budget."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any


def _number(text: str) -> int:
    """An integer that may be written ``2e5``, ``200k``, ``1.5M`` or ``2_000_000``."""
    value = text.strip().replace("_", "").replace(",", "")
    scale = {"k": 1e3, "m": 1e6, "g": 1e9}.get(value[-1:].lower(), 1)
    if scale != 1:
        value = value[:-1]
    try:
        number = float(value) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(
            f"must be a finite whole number, got {text!r}; leave the option out for no limit"
        )
    if number != int(number) or number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return int(number)


def _search(args: argparse.Namespace) -> int:
    from dassgnn.search import load_teacher, search
    from dassgnn.utils.device import check_device

    check_device(args.device)  # before any work
    if args.data_root is not None:
        from dassgnn.bench.runner import environment_data_dir

        environment_data_dir(args.data_root)
    method: Any = args.method
    if args.predictor is not None:
        from dassgnn.predictor import DaSSRanker

        method = DaSSRanker.load(args.predictor)
    teacher = load_teacher(args.teacher)
    result = search(
        teacher,
        args.data,
        max_params=args.max_params,
        max_flops=args.max_flops,
        max_latency_ms=args.max_latency_ms,
        method=method,
        strategy=args.strategy,
        pool_size=args.pool_size,
        generations=args.generations,
        population=args.population,
        top_k=args.top_k,
        pareto=args.pareto,
        image_size=args.image_size,
        shots=args.shots,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
    )
    budget = ", ".join(f"{k}={v:,}" for k, v in result.budget.items() if v is not None)
    acc = (
        ""
        if result.teacher_accuracy is None
        else f", teacher accuracy {100 * result.teacher_accuracy:.2f} %"
    )
    print(
        f"{result.space!r}{acc}; {result.strategy}: {result.feasible} of {result.evaluated} "
        f"candidates within the budget ({budget or 'none'}) scored by {result.method}"
    )
    note = result.extra.get("image_size")
    if note:
        tried = ", ".join(
            f"{100 * acc:.1f} % at {size}" for size, acc in note["teacher_accuracy_by_size"].items()
        )
        print(
            f"image size {note['inferred']} px, where the teacher is most accurate ({tried}); "
            "--image-size sets it"
        )
    print(result.table())
    if result.pareto is not None:
        print(f"\nPareto front ({result.score_name} vs {result.cost}):")
        print(result.table(result.pareto, teacher_line=False))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(result.to_json() + "\n")
        print(f"wrote {args.json}")
    return 0


def add_parsers(sub: Any) -> None:
    """Adds ``search`` to the ``dassgnn`` command's subparsers."""
    p = sub.add_parser(
        "search",
        help="rank students of a teacher checkpoint on a dataset within a budget",
        description=(
            "Rank students of a trained teacher (a state-dict checkpoint of the library's "
            "ResNet or a torchvision-style BasicBlock ResNet) for a dataset (a registered "
            "name, an .npz file, an image folder, or a folder with train/ and test/) within "
            "a parameter, FLOP or latency budget, without training them."
        ),
    )
    p.add_argument("--teacher", type=Path, required=True, help="teacher checkpoint (state dict)")
    p.add_argument(
        "--data", required=True, help="dataset name or path (.npz, image folder, train/+test/)"
    )
    p.add_argument("--max-params", type=_number, default=None, help="most parameters, e.g. 2M")
    p.add_argument("--max-flops", type=_number, default=None, help="most MACs, e.g. 500M")
    p.add_argument(
        "--max-latency-ms", type=float, default=None, help="most ms per image on --device"
    )
    p.add_argument("--method", default="dass", help="ranking method (default: dass)")
    p.add_argument(
        "--predictor", type=Path, default=None, help="predictor checkpoint (default: committed)"
    )
    p.add_argument("--strategy", choices=["pool", "evolution"], default="pool")
    p.add_argument("--pool-size", type=_number, default=10_000, help="pool students (10000)")
    p.add_argument("--generations", type=int, default=30, help="evolution generations (30)")
    p.add_argument("--population", type=int, default=100, help="evolution population (100)")
    p.add_argument("--top-k", type=int, default=10, help="candidates shown (10)")
    p.add_argument("--pareto", action="store_true", help="also show the Pareto front")
    p.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="image size of the data (default: the size among the data's own, 16, 24 and 32 "
        "at which the teacher is most accurate)",
    )
    p.add_argument(
        "--shots",
        type=int,
        default=0,
        help="candidates to KD-train (with the predictor's label recipe) and adapt on before "
        "ranking the rest (0: none)",
    )
    p.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder of the registered .npz datasets (else DASSGNN_DATA)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the result")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_search)
