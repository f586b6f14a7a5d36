"""Pilot that chooses the collection recipe by measurement.

For one task and one teacher it KD-trains the same sampled students with two
seeds under several candidate recipes (and from scratch under one), then
reports, per recipe, what the meta-dataset issue asks for: Spearman rho between
the two seeds (the noise ceiling), the spread of accuracies, the mean seed
difference, rho(params, KD accuracy), rho(KD, scratch) and seconds per run.

Results are appended to a JSON-lines file as runs finish, so an interrupted
pilot resumes where it stopped::

    python benchmarks/recipe_pilot.py --out runs/pilot --workers 2
    python benchmarks/recipe_pilot.py --out runs/pilot --report
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
import torch

from dassgnn.data import Task
from dassgnn.kd import Recipe, TeacherCache, distill, train_scratch, train_teacher
from dassgnn.metrics import spearman
from dassgnn.space import Arch, ResNetSpace

VARIANTS = {
    "n1000-e5": ({"train_per_class": 1000}, {"epochs": 5, "lr": 0.05}),
    "n500-e10": ({"train_per_class": 500}, {"epochs": 10, "lr": 0.05}),
    "n300-e15": ({"train_per_class": 300}, {"epochs": 15, "lr": 0.05}),
    "n1000-e5-lr02": ({"train_per_class": 1000}, {"epochs": 5, "lr": 0.02}),
}
_STATE: dict = {}


def _init_worker(base: dict, space: dict, teacher_path: str) -> None:
    torch.set_num_threads(1)
    _STATE.update(base=base, space=ResNetSpace(**space), teacher_path=teacher_path, caches={})


def _task(base: dict, task_fields: dict) -> Task:
    return Task(**{**base, **task_fields})


def _run(job: dict) -> dict:
    space, base = _STATE["space"], _STATE["base"]
    task_fields, recipe_fields = VARIANTS[job["variant"]]
    task = _task(base, task_fields)
    data = task.load()
    recipe = Recipe(eval_every=0, **recipe_fields)
    arch = Arch.from_id(job["arch"])
    if job["mode"] == "scratch":
        _, res = train_scratch(space, arch, data, recipe, seed=job["seed"])
    else:
        key = (job["variant"], job["seed"])
        if key not in _STATE["caches"]:
            teacher = space.build(space.teacher, data.num_classes, data.channels)
            teacher.load_state_dict(torch.load(_STATE["teacher_path"], weights_only=True))
            _STATE["caches"] = {key: TeacherCache(teacher)}
        _, res = distill(space, arch, data, _STATE["caches"][key], recipe, seed=job["seed"])
    params = space.params(arch, data.num_classes, data.channels)
    return {**job, "acc": res.test_acc, "time": res.wall_time, "params": params}


def _report(rows: list[dict]) -> None:
    print(
        f"{'recipe':<15}{'runs':>5}{'seed rho':>9}{'range %':>15}{'mean diff':>10}"
        f"{'rho(params)':>12}{'rho(scratch)':>13}{'s/run':>7}"
    )
    scratch = {r["arch"]: r["acc"] for r in rows if r["mode"] == "scratch"}
    for variant in VARIANTS:
        kd = [r for r in rows if r["variant"] == variant and r["mode"] == "kd"]
        if not kd:
            continue
        by = {}
        for r in kd:
            by.setdefault(r["arch"], {})[r["seed"]] = r
        both = [v for v in by.values() if len(v) == 2]
        a = np.array([v[0]["acc"] for v in both])
        b = np.array([v[1]["acc"] for v in both])
        mean = (a + b) / 2
        params = [v[0]["params"] for v in both]
        rho_seed = spearman(a, b)
        rho_params = spearman(params, mean)
        archs = [arch for arch, v in by.items() if len(v) == 2 and arch in scratch]
        rho_scratch = float("nan")
        if len(archs) > 2 and variant == next(iter(VARIANTS)):
            kd_mean = [(by[x][0]["acc"] + by[x][1]["acc"]) / 2 for x in archs]
            rho_scratch = spearman(kd_mean, [scratch[x] for x in archs])
        span = f"{100 * mean.min():.1f}-{100 * mean.max():.1f}" if len(both) else "-"
        print(
            f"{variant:<15}{len(kd):>5}{rho_seed:>9.2f}{span:>15}"
            f"{100 * np.abs(a - b).mean():>10.2f}{rho_params:>12.2f}{rho_scratch:>13.2f}"
            f"{np.mean([r['time'] for r in kd]):>7.1f}"
        )
    if scratch:
        print(
            f"scratch runs: {len(scratch)}, mean acc {100 * np.mean(list(scratch.values())):.1f}%"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/pilot"))
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--num-classes", type=int, default=5)
    parser.add_argument("--task-seed", type=int, default=0)
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--depths", type=int, nargs="+", default=[3, 3, 3])
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2, 2])
    parser.add_argument("--teacher-epochs", type=int, default=40)
    parser.add_argument("--students", type=int, default=16)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--report", action="store_true", help="only print the table")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "runs.jsonl"
    rows = [json.loads(line) for line in results.open()] if results.exists() else []
    if args.report:
        _report(rows)
        return
    space_kw = {"widths": args.widths, "depths": args.depths, "strides": args.strides}
    space = ResNetSpace(**space_kw)
    base = Task.sample(args.dataset, args.num_classes, seed=args.task_seed).to_dict()
    base.pop("train_per_class")
    teacher_path = args.out / "teacher.pt"
    if not teacher_path.exists():
        torch.set_num_threads(max(1, args.workers))
        data = Task(**{**base, "train_per_class": None}).load()
        recipe = Recipe(epochs=args.teacher_epochs, lr=0.1, eval_every=10)
        teacher, res = train_teacher(space, data, recipe, seed=0, progress=True)
        torch.save(teacher.state_dict(), teacher_path)
        print(f"teacher: {100 * res.test_acc:.1f}% in {res.wall_time:.0f}s {res.test_curve}")
        (args.out / "teacher.json").write_text(json.dumps(res.to_dict()))
    archs = [a.id for a in space.sample(args.students, seed=1)]
    jobs = []
    for variant in args.variants:
        for seed in (0, 1):
            jobs += [{"variant": variant, "mode": "kd", "seed": seed, "arch": a} for a in archs]
    jobs += [{"variant": args.variants[0], "mode": "scratch", "seed": 0, "arch": a} for a in archs]
    done = {(r["variant"], r["mode"], r["seed"], r["arch"]) for r in rows}
    todo = [j for j in jobs if (j["variant"], j["mode"], j["seed"], j["arch"]) not in done]
    print(f"{len(todo)} of {len(jobs)} runs to do", flush=True)
    start = time.time()
    ctx = mp.get_context("spawn")
    initargs = (base, space_kw, str(teacher_path))
    with ctx.Pool(args.workers, _init_worker, initargs) as pool, results.open("a") as f:
        for i, row in enumerate(pool.imap(_run, todo), 1):
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
            rows.append(row)
            if i % 8 == 0 or i == len(todo):
                print(f"{i}/{len(todo)} runs, {time.time() - start:.0f}s", flush=True)
    _report(rows)


if __name__ == "__main__":
    main()
