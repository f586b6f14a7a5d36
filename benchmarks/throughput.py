"""KD runs per minute: the per-student loop on a process pool vs the batched trainer.

Times the collection recipe of ``dassgnn/assets/meta_dataset.toml`` on one task:
``--students`` sampled students KD-trained (a) one process per student run by the
pool executor, as the collector does, and (b) all together by the batched trainer
(:func:`dassgnn.kd.train_batched`) in one process. Throughput depends on the
machine: run it on the one you want figures for (``--device cuda`` on a GPU).

    python benchmarks/throughput.py                        # 2 CPU workers, 8 students
    python benchmarks/throughput.py --device cuda --workers 12 --students 48

With ``--agreement`` the loop also runs a second seed, and the script reports how
well the two trainers agree on the same students (Spearman rho and mean absolute
difference of test accuracy) beside how well two seeds of the loop agree: the
batched trainer's records may be mixed with the loop's only if the first is no
worse than the second.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import torch

from dassgnn.collect import Plan, PoolExecutor
from dassgnn.collect.plan import StudentJob, TeacherJob
from dassgnn.data import Task
from dassgnn.kd import Recipe, train_batched, train_teacher
from dassgnn.metrics import agreement
from dassgnn.records.codec import encode_state_dict
from dassgnn.space import ResNetSpace

PLAN = Path(__file__).resolve().parents[1] / "dassgnn" / "assets" / "meta_dataset.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default="cifar10" if os.environ.get("DASSGNN_DATA") else "mnist5k"
    )
    parser.add_argument("--num-classes", type=int, default=5)
    parser.add_argument("--train-per-class", type=int, default=None)
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--batched-groups", type=int, nargs="+", default=[8], help="students per batched program"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--teacher-epochs", type=int, default=1, help="epochs of the benchmark's own teacher"
    )
    parser.add_argument(
        "--amp",
        action="store_true",
        help="also time the batched trainer with bfloat16 autocast (CUDA only)",
    )
    parser.add_argument("--skip-loop", action="store_true")
    parser.add_argument(
        "--agreement",
        action="store_true",
        help="also run the loop with seed 1 and compare the trainers",
    )
    args = parser.parse_args()

    recipe: Recipe = Plan.from_file(PLAN).recipe
    task = Task.sample(
        args.dataset,
        args.num_classes,
        seed=0,
        train_per_class=args.train_per_class or (1000 if args.dataset == "cifar10" else None),
    )
    data = task.load()
    space = ResNetSpace()
    teacher, teacher_result = train_teacher(
        space, data, Recipe(epochs=args.teacher_epochs, eval_every=0), seed=0, device=args.device
    )
    archs = space.sample(args.students, seed=0)
    print(
        f"task {task.key}: {len(data.train)} train images, teacher "
        f"{100 * teacher_result.test_acc:.1f}% after {args.teacher_epochs} epochs, "
        f"recipe {recipe.epochs} epochs "
        f"(min_steps {recipe.min_steps}), {len(archs)} students, device {args.device}, "
        f"torch {torch.__version__}"
    )

    batched: dict[str, float] = {}
    for group in args.batched_groups:
        batched = _time_batched(space, archs, data, recipe, teacher, group, args.device)
    amp: dict[str, float] = {}
    if args.amp and args.device.startswith("cuda"):
        amp = _time_batched(
            space,
            archs,
            data,
            replace(recipe, amp=True),
            teacher,
            max(args.batched_groups),
            args.device,
            "(bf16 autocast)",
        )
    loop: dict[int, dict[str, float]] = {}
    if not args.skip_loop:
        pool = PoolExecutor(workers=args.workers, device=args.device)
        tjob = TeacherJob.make(task, space.to_dict(), Recipe(epochs=args.teacher_epochs))
        weights = encode_state_dict(teacher.state_dict())
        for seed in (0, 1) if args.agreement else (0,):
            jobs = [(StudentJob(tjob, a, "kd", seed, recipe), weights) for a in archs]
            start = time.perf_counter()
            outcomes = list(pool.run(jobs))
            wall = time.perf_counter() - start
            ok = [o for o in outcomes if o.status == "ok"]
            loop[seed] = {o.job.arch.id: o.result["test_acc"] for o in ok}
            per_run = sum(o.wall_time for o in ok) / max(1, len(ok))
            print(
                f"loop    seed {seed}, {pool}: {len(ok)} runs in {wall:.0f} s = "
                f"{60 * len(ok) / wall:.2f} runs/min ({per_run:.1f} s a run in its process; "
                "pool start-up included in the wall time)"
            )
            if seed == 0:
                _compare("loop seed 0 vs batched seed 0", loop[0], batched)
                if amp:
                    _compare("loop seed 0 vs batched bf16 seed 0", loop[0], amp)

    if args.agreement and 1 in loop:
        _agreement(loop, batched)


def _time_batched(
    space: ResNetSpace,
    archs: list,
    data: object,
    recipe: Recipe,
    teacher: torch.nn.Module,
    group: int,
    device: str,
    label: str = "",
) -> dict[str, float]:
    accs: dict[str, float] = {}
    start = time.perf_counter()
    for i in range(0, len(archs), group):
        chunk = archs[i : i + group]
        results = train_batched(space, chunk, data, recipe, teacher=teacher, seed=0, device=device)
        for arch, res in zip(chunk, results, strict=True):
            if not isinstance(res, Exception):
                accs[arch.id] = res.test_acc
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    print(
        f"batched {group} students a program {label}: {len(accs)} runs in {wall:.0f} s = "
        f"{60 * len(accs) / wall:.2f} runs/min"
    )
    return accs


def _agrees(x: dict[str, float], y: dict[str, float], ids: list[str]) -> str:
    a = agreement([x[i] for i in ids], [y[i] for i in ids])
    return f"rho {a['rho']:.3f}, mean |diff| {100 * a['mean_abs_diff']:.2f} pp"


def _compare(label: str, x: dict[str, float], y: dict[str, float]) -> None:
    print(f"{label}: {_agrees(x, y, sorted(set(x) & set(y)))}")


def _agreement(loop: dict[int, dict[str, float]], batched: dict[str, float]) -> None:
    ids = sorted(set(loop[0]) & set(loop[1]) & set(batched))
    print(
        f"agreement on {len(ids)} students: loop seed 0 vs loop seed 1: "
        f"{_agrees(loop[0], loop[1], ids)}; loop seed 0 vs batched seed 0: "
        f"{_agrees(loop[0], batched, ids)}"
    )


if __name__ == "__main__":
    main()
