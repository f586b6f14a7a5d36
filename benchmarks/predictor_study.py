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
    evaluate,
    load_episodes,
    meta_train,
    task_keys,
)
from dassgnn.predictor.metasgd import predict_episode
from dassgnn.records import RecordStore, default_store_path
from dassgnn.space import space_from_dict

VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "flat": {"arch_encoder": "flat"},
    "gatv2": {"arch_encoder": "gatv2"},
    "topo": {"arch_encoder": "topo"},
    "learned_feats": {"featurizer": "learned_conv"},
    "no_meta": {"meta": False},
    "no_adapt": {"adapt": False},
    "no_arch": {"branches": ("cost", "dataset", "teacher", "student")},
    "no_cost": {"branches": ("arch", "dataset", "teacher", "student")},
    "no_dataset": {"branches": ("arch", "cost", "teacher", "student")},
    "no_teacher": {"branches": ("arch", "cost", "dataset", "student")},
    "no_student": {"branches": ("arch", "cost", "dataset", "teacher")},
    "cost_only": {"branches": ("cost",)},
    "mse_only": {"rank_weight": 0.0},
    "support4": {"support_students": 4},
    "first_order": {"first_order": True},
}


def _baseline(ep: Any, column: int) -> float:
    assert ep.inputs.targets is not None
    return spearman(ep.inputs.cost[:, column].numpy(), ep.inputs.targets.numpy())


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
    parser.add_argument("--test", action="store_true", help="also report the meta-test tasks")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()

    store = RecordStore(args.store or default_store_path(), readonly=True)
    keys = task_keys(store, "meta-train")
    val = choose_val_tasks(store, keys, args.val_tasks)
    train = [k for k in keys if k not in val]
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
    rows: list[dict[str, Any]] = []
    for group, ks in groups.items():
        for k in ks:
            rows.append(
                {"variant": "params", "group": group, "task": k, "rho": _baseline(episodes[k], 0)}
            )
            rows.append(
                {"variant": "flops", "group": group, "task": k, "rho": _baseline(episodes[k], 1)}
            )
    for name in args.variants:
        for limit in args.train_limit:
            for seed in args.seeds:
                changes = dict(VARIANTS[name], seed=seed)
                if args.steps is not None:
                    changes["steps"] = args.steps
                config = base.replace(**changes)
                used = train[:limit] if limit else train
                model = DaSSPredictor(config, schema)
                start = time.perf_counter()
                metasgd, log = meta_train(
                    model, [episodes[k] for k in used], [episodes[k] for k in val]
                )
                wall = time.perf_counter() - start
                label = f"{name}" + (f"@{limit}" if limit else "")
                for group, ks in groups.items():
                    eps = [episodes[k] for k in ks]
                    rhos = evaluate(model, metasgd, eps, config.adapt)
                    for k, ep, rho in zip(ks, eps, rhos, strict=True):
                        pred = (
                            predict_episode(model, metasgd, ep, adapt=config.adapt).detach().numpy()
                        )
                        truth = ep.inputs.targets.numpy()
                        rows.append(
                            {
                                "variant": label,
                                "group": group,
                                "task": k,
                                "seed": seed,
                                "rho": rho,
                                "tau": kendall(pred, truth),
                                "regret": regret_at_1(pred, truth),
                            }
                        )
                print(
                    f"{label:<16} seed {seed}: best val rho {log.best_val_rho:.3f} at step "
                    f"{log.best_step}, {wall:.0f} s"
                )
    for group, ks in groups.items():
        if not ks:
            continue
        print(f"\n{group} tasks (Spearman rho; mean over seeds)")
        names = list(dict.fromkeys(r["variant"] for r in rows))
        width = max(len(k) for k in ks)
        print(f"{'task':<{width}}" + "".join(f"{n[:14]:>15}" for n in names))
        for k in [*ks, "mean"]:
            cells = []
            for n in names:
                vals = [
                    r["rho"]
                    for r in rows
                    if r["variant"] == n and r["group"] == group and (r["task"] == k or k == "mean")
                ]
                cells.append(f"{np.nanmean(vals):>15.3f}" if vals else f"{'-':>15}")
            print(f"{k:<{width}}" + "".join(cells))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
