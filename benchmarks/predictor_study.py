"""Model selection and ablations of the DaSS predictor, on meta-validation tasks.

Trains predictor variants on the meta-training tasks of a record store (the
committed one by default), holds out meta-validation tasks, and prints the
Spearman rho of every variant per validation task beside the parameter-count
and FLOPs baselines. Choices are made on these numbers only; ``--test`` adds
the meta-test tasks (for the final report, not for choosing).

    python benchmarks/predictor_study.py --variants base flat gatv2 topo --steps 300
    python benchmarks/predictor_study.py --variants base --seeds 0 1 2 --test

A variant is a name from VARIANTS below (changes to PredictorConfig).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from dassgnn.metrics import kendall, regret_at_1, spearman
from dassgnn.predictor import (
    DaSSPredictor,
    PredictorConfig,
    choose_val_tasks,
    load_episodes,
    meta_train,
    task_keys,
)
from dassgnn.predictor.metasgd import predict_episode
from dassgnn.records import RecordStore, default_store_path
from dassgnn.records.analysis import task_report
from dassgnn.space import space_from_dict
from dassgnn.space.graph import MAX_STAGES

VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "flat": {"arch_encoder": "flat"},
    "gatv2": {"arch_encoder": "gatv2"},
    "topo": {"arch_encoder": "topo"},
    "learned_feats": {"featurizer": "learned_conv"},
    "no_meta": {"meta": False},
    "no_adapt": {"adapt": False},
    "no_arch": {"branches": ("cost", "dataset", "teacher", "student")},
    "rel_stage": {"drop_node_features": tuple(f"stage={s}" for s in range(MAX_STAGES))},
    "rel_all": {
        "drop_node_features": (*(f"stage={s}" for s in range(MAX_STAGES)), "in_log", "out_log")
    },
    "no_cost": {"branches": ("arch", "dataset", "teacher", "student")},
    "no_dataset": {"branches": ("arch", "cost", "teacher", "student")},
    "no_teacher": {"branches": ("arch", "cost", "dataset", "student")},
    "no_student": {"branches": ("arch", "cost", "dataset", "teacher")},
    "cost_only": {"branches": ("cost",)},
    "mse_only": {"rank_weight": 0.0},
    "support4": {"support_students": 4},
    "first_order": {"first_order": True},
    "ens3": {"ensemble": 3},
    "ens3_no_meta": {"ensemble": 3, "meta": False},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--variants", nargs="+", default=["base"], choices=sorted(VARIANTS))
    parser.add_argument("--steps", type=int, default=None, help="override config.steps")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--val-tasks", type=int, default=6)
    parser.add_argument(
        "--train-limit",
        type=int,
        nargs="+",
        default=[0],
        help="meta-training tasks used (0 = all): a learning curve",
    )
    parser.add_argument(
        "--exclude-datasets",
        nargs="+",
        default=[],
        help="leave the meta-training tasks of these datasets out of training (not of validation)",
    )
    parser.add_argument("--test", action="store_true", help="also report the meta-test tasks")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()

    store = RecordStore(args.store or default_store_path(), readonly=True)
    keys = task_keys(store, "meta-train")
    val = choose_val_tasks(store, keys, args.val_tasks)
    train = [
        k for k in keys if k not in val and store.get_task(k).dataset not in args.exclude_datasets
    ]
    test = task_keys(store, "meta-test") if args.test else []
    base = PredictorConfig()
    t0 = time.perf_counter()
    episodes = {
        k: e
        for k, e in zip(
            train + val + test, load_episodes(store, train + val + test, base), strict=True
        )
    }
    print(
        f"loaded {len(episodes)} episodes in {time.perf_counter() - t0:.0f} s; "
        f"val: {', '.join(val)}"
    )
    schema = space_from_dict(
        store.get_teacher(store.runs(keys[0], mode="kd")[0].teacher_id).space
    ).graph_schema
    groups = {"val": val, "test": test}
    quality = {k: task_report(store, k) for k in val + test}
    rows: list[dict[str, Any]] = []
    for group, ks in groups.items():
        for k in ks:
            truth = episodes[k].inputs.targets.numpy()
            for column, name in ((0, "params"), (1, "flops")):
                score = episodes[k].inputs.cost[:, column].numpy()
                rows.append(_row(name, group, k, 0, score, truth))
    for name in args.variants:
        for limit in args.train_limit:
            for seed in args.seeds:
                changes = dict(VARIANTS[name], seed=seed)
                if args.steps is not None:
                    changes["steps"] = args.steps
                config = base.replace(**changes)
                used = train[:limit] if limit else train
                start = time.perf_counter()
                members = []
                for i in range(config.ensemble):
                    model = DaSSPredictor(config.replace(seed=seed + i), schema)
                    metasgd, log = meta_train(
                        model, [episodes[k] for k in used], [episodes[k] for k in val]
                    )
                    members.append((model, metasgd))
                wall = time.perf_counter() - start
                label = f"{name}" + (f"@{limit}" if limit else "")
                adapt = config.meta and config.adapt
                for group, ks in groups.items():
                    for k in ks:
                        ep = episodes[k]
                        pred = np.mean(
                            [
                                predict_episode(m, ms, ep, adapt=adapt).detach().numpy()
                                for m, ms in members
                            ],
                            axis=0,
                        )
                        rows.append(_row(label, group, k, seed, pred, ep.inputs.targets.numpy()))
                print(
                    f"{label:<16} seed {seed}: best val rho {log.best_val_rho:.3f} at step "
                    f"{log.best_step}, {wall:.0f} s"
                )
    for group, ks in groups.items():
        if ks:
            for figure in ("rho", "tau", "regret"):
                print(_table(rows, group, ks, figure, quality))
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "quality": quality}, indent=1, default=str))


def _row(variant: str, group: str, task: str, seed: int, pred: Any, truth: Any) -> dict[str, Any]:
    return {
        "variant": variant,
        "group": group,
        "task": task,
        "seed": seed,
        "rho": spearman(pred, truth),
        "tau": kendall(pred, truth),
        "regret": 100 * regret_at_1(pred, truth),
    }


def discriminating(q: dict[str, Any]) -> bool:
    """A task that can tell methods apart: reliable seed-mean label (>= 0.9), best
    student below 95 %, KD spread at least three times the seed noise."""
    spread = q["kd_max"] - q["kd_min"]
    return bool(q["mean_rho"] >= 0.9 and q["kd_max"] < 0.95 and spread >= 3 * q["seed_diff"])


def _table(
    rows: list[dict[str, Any]], group: str, ks: list[str], figure: str, quality: dict[str, Any]
) -> str:
    unit = {"rho": "Spearman rho", "tau": "Kendall tau", "regret": "regret@1 in points"}[figure]
    names = list(dict.fromkeys(r["variant"] for r in rows))
    width = max(len(k) for k in ks) + 2
    lines = [f"\n{group} tasks: {unit} (mean over predictor seeds); ceiling = sqrt(reliability)"]
    lines.append(
        f"{'task':<{width}}{'ceiling':>8}{'disc':>5}" + "".join(f"{n[:13]:>14}" for n in names)
    )
    disc = [k for k in ks if discriminating(quality[k])]
    for k in [*ks, "mean", "mean disc"]:
        members = ks if k == "mean" else disc if k == "mean disc" else [k]
        if not members:
            continue
        cells = []
        for n in names:
            vals = [
                r[figure]
                for r in rows
                if r["variant"] == n and r["group"] == group and r["task"] in members
            ]
            cells.append(f"{np.nanmean(vals):>14.3f}" if vals else f"{'-':>14}")
        if k in quality:
            head = f"{quality[k]['ceiling']:>8.2f}{'yes' if k in disc else '':>5}"
        else:
            head = f"{'':>8}{len(members):>5}"
        lines.append(f"{k:<{width}}{head}" + "".join(cells))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
