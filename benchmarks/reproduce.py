"""Re-runs recorded student runs with another trainer or device and compares.

The committed records mix runs made by the per-student loop on a CPU and by
the batched trainer on a GPU (each run says which). This script takes the runs
of one task from a store, trains the same jobs again (same task, teacher,
students, seed and recipe) with the executor and device given, and reports
how well the new accuracies agree with the recorded ones: Spearman rho and
mean absolute difference, beside the seed-to-seed figures of the task when it
has two seeds. Nothing is written to the store.

    python benchmarks/reproduce.py                          # first meta-train task, CPU loop
    python benchmarks/reproduce.py --task usps-10way-e40158dbe142 --seed 1 --limit 20
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from dassgnn.collect import Plan, create_executor
from dassgnn.metrics import agreement
from dassgnn.records import RecordStore, default_store_path

PLAN = Path(__file__).resolve().parents[1] / "dassgnn" / "assets" / "meta_dataset.toml"


def _agreement(x: list[float], y: list[float]) -> str:
    a = agreement(x, y)
    return (
        f"rho {a['rho']:.3f}, mean |diff| {100 * a['mean_abs_diff']:.2f} pp, "
        f"mean shift {100 * a['mean_shift']:+.2f} pp (n={a['n']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None, help="default: the committed store")
    parser.add_argument("--plan", type=Path, default=PLAN)
    parser.add_argument("--task", default=None, help="a task key (default: first meta-train)")
    parser.add_argument("--mode", default="kd", choices=["kd", "scratch"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="at most this many students")
    parser.add_argument("--executor", default="pool", choices=["pool", "batched", "serial"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    plan = Plan.from_file(args.plan)
    store = RecordStore(args.store or default_store_path(), readonly=True)
    task = args.task or next(t.key for t in store.tasks("meta-train"))
    recorded = {r.key: r for r in store.runs(task, mode=args.mode)}  # finished runs only
    jobs = [j for j in plan.student_jobs() if j.key in recorded and j.seed == args.seed]
    jobs = jobs[: args.limit] if args.limit else jobs
    if not jobs:
        raise SystemExit(f"no recorded {args.mode} runs of seed {args.seed} for task {task!r}")
    made = Counter(f"{recorded[j.key].trainer}/{recorded[j.key].device}" for j in jobs)
    weights = store.get_teacher(jobs[0].teacher.teacher_id).weights if args.mode == "kd" else None
    kwargs = {"device": args.device}
    if args.workers:
        kwargs["workers"] = args.workers
    runner = create_executor(args.executor, **kwargs)
    print(f"task {task}: {len(jobs)} {args.mode} runs of seed {args.seed}, made by {dict(made)}")
    print(f"re-running them with {runner}")
    start = time.perf_counter()
    new = {}
    for outcome in runner.run((job, weights) for job in jobs):
        if outcome.status == "ok":
            new[outcome.job.key] = (outcome.result["test_acc"], outcome.trainer)
        else:
            print(f"  failed: {outcome.job.arch.id}: {outcome.error.splitlines()[0]}")
    print(f"{len(new)} runs in {time.perf_counter() - start:.0f} s")
    keys = sorted(new)
    old_acc = [recorded[k].test_acc for k in keys]
    new_acc = [new[k][0] for k in keys]
    trainer = Counter(t for _, t in new.values())
    print(f"recorded vs re-run ({dict(trainer)} on {args.device}): {_agreement(old_acc, new_acc)}")

    runs = store.runs(task, mode=args.mode)
    partners = sorted({r.seed for r in runs} - {args.seed})
    if partners:  # for scale: against the lowest other recorded seed
        other = {r.arch_id: r.test_acc for r in runs if r.seed == partners[0]}
        pairs = [(recorded[k].test_acc, other[k.arch_id]) for k in keys if k.arch_id in other]
        if pairs:
            a, b = zip(*pairs, strict=True)
            print(f"for scale, recorded seed {args.seed} vs seed {partners[0]}: {_agreement(a, b)}")
    store.close()


if __name__ == "__main__":
    main()
