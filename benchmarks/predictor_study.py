"""Model selection and ablations of the DaSS predictor, zero-shot and few-shot, on
meta-validation tasks.

Trains predictor variants on the meta-training tasks of a record store (the committed one
by default), holds out meta-validation tasks, and prints the Spearman rho of every variant
at each k (measured students in the support set, drawn with the same seeds for every
method; the support students carry KD seed 0's accuracy, rho is measured on the others
against the seed-mean label) beside parameter count, FLOPs, ``ridge`` (fitted on the k
students only) and ``meta_ridge`` (a ridge on the same features fitted on all meta-training
tasks, plus a ridge on its residual fitted on the k students). Choices are made on the
validation numbers only; ``--test`` adds the meta-test tasks (for the final report, not for
choosing).

    python benchmarks/predictor_study.py --variants base no_prior --seeds 0 1
    python benchmarks/predictor_study.py --variants base --shots 0 5 10 20 --test

A variant is a name from VARIANTS below (changes to PredictorConfig).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import Ridge

from dassgnn.data import META_TEST_ONLY
from dassgnn.metrics import spearman, support_draws
from dassgnn.predictor import (
    BRANCHES,
    DEFAULT_BRANCHES,
    DaSSPredictor,
    Episode,
    PredictorConfig,
    choose_val_tasks,
    evaluate,
    load_episodes,
    meta_train,
    task_keys,
)
from dassgnn.records import RecordStore, default_store_path, is_discriminating, task_report
from dassgnn.space import space_from_dict

VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "size_prior": {"branches": BRANCHES},
    "prior_only": {"branches": ("prior",)},
    "no_meta": {"meta": False},
    **{
        f"no_{b}": {"branches": tuple(x for x in DEFAULT_BRANCHES if x != b)}
        for b in ("arch", "dataset", "teacher", "student")
    },
    "flat": {"arch_encoder": "flat"},
    "zero_shot_train": {"shots": (0,)},
    "inner1": {"inner_steps": 1},
    "inner5": {"inner_steps": 5},
    "teacher_w0.2": {"teacher_weight": 0.2},
    "teacher_w5": {"teacher_weight": 5.0},
    "mse_only": {"rank_weight": 0.0},
    "rel0.5": {"min_reliability": 0.5},
    "relw": {"reliability_weighting": True},
    "bounded": {"bounded": True},
    "first_order": {"first_order": True},
    "steps800": {"steps": 800},
    "inner_lr0.01": {"inner_lr": 0.01},
    "step_lr0.01": {"step_size_lr": 0.01},
    "step_lr0.03": {"step_size_lr": 0.03},
    "inner_lr0.03": {"inner_lr": 0.03},
    "resid0.3": {"residual_alpha": 0.3},
    "resid1": {"residual_alpha": 1.0},
    "resid5": {"residual_alpha": 5.0},
    "resid_cv": {"residual_alphas": (0.3, 1.0, 3.0, 10.0, 30.0)},
}


def _ridge_scores(x_fit: np.ndarray, y: np.ndarray, x: np.ndarray, alpha: float) -> np.ndarray:
    mean, std = x_fit.mean(0), x_fit.std(0)
    std[std == 0] = 1.0
    return Ridge(alpha=alpha).fit((x_fit - mean) / std, y).predict((x - mean) / std)


def _within(x: np.ndarray) -> np.ndarray:
    std = x.std(0)
    std[std == 0] = 1.0
    return (x - x.mean(0)) / std


def baselines(
    episodes: list[Episode], train: list[Episode], shots: list[int], draws: int
) -> dict[str, dict[int, list[float]]]:
    """params, flops, ridge and meta_ridge on the same draws as `evaluate`."""
    xs = np.concatenate([_within(e.students.simple.numpy()) for e in train])
    ys = np.concatenate([_within(e.students.targets.numpy()[:, None])[:, 0] for e in train])
    prior = Ridge(alpha=1.0).fit(xs, ys)
    out: dict[str, dict[int, list[float]]] = {
        m: {k: [] for k in shots} for m in ("params", "flops", "ridge", "meta_ridge")
    }
    for e, ep in enumerate(episodes):
        x = ep.students.simple.numpy().astype(float)
        truth = ep.students.targets.numpy()
        base = prior.predict(_within(x))
        for k in shots:
            rhos: dict[str, list[float]] = {m: [] for m in out}
            for picked, rest in support_draws(len(truth), min(k, len(truth) - 3), draws, [0, e, k]):
                accs = ep.shot_accuracies(picked).numpy()
                rhos["params"].append(spearman(x[rest, 0], truth[rest]))
                rhos["flops"].append(spearman(x[rest, 1], truth[rest]))
                if len(picked) >= 2:
                    ridge = _ridge_scores(x[picked], accs, x[rest], 1.0)
                    resid = accs - accs.mean() - base[picked] * accs.std()
                    fix = _ridge_scores(x[picked], resid, x[rest], 1.0)
                    meta = base[rest] * accs.std() + fix
                else:
                    ridge, meta = x[rest, 0], base[rest]
                rhos["ridge"].append(spearman(ridge, truth[rest]))
                rhos["meta_ridge"].append(spearman(meta, truth[rest]))
            for m in out:
                out[m][k].append(float(np.nanmean(rhos[m])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--variants", nargs="+", default=["base"], choices=sorted(VARIANTS))
    parser.add_argument("--steps", type=int, default=None, help="override config.steps")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--shots", type=int, nargs="+", default=[0, 5, 10, 20])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--val-tasks", type=int, default=8)
    parser.add_argument(
        "--train-limit",
        type=int,
        nargs="+",
        default=[0],
        help="meta-training tasks used (0 = all): a learning curve",
    )
    parser.add_argument(
        "--train-datasets",
        type=int,
        nargs="+",
        default=[0],
        help="meta-train on the tasks of the first N datasets only (0 = all): a learning "
        "curve over datasets",
    )
    parser.add_argument(
        "--exclude-datasets",
        nargs="+",
        default=[],
        help="leave the meta-training tasks of these datasets out of training (not of validation)",
    )
    parser.add_argument(
        "--val-datasets",
        nargs="+",
        default=[],
        help="validate on every meta-training task of these datasets and train on none of "
        "them (a held-out domain) instead of --val-tasks chosen tasks",
    )
    parser.add_argument("--test", action="store_true", help="also report the meta-test tasks")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    store = RecordStore(args.store or default_store_path(), readonly=True)
    keys = task_keys(store, "meta-train")
    if args.val_datasets:
        val = [k for k in keys if store.get_task(k).dataset in args.val_datasets]
    else:
        val = choose_val_tasks(store, keys, args.val_tasks)
    left_out = set(args.exclude_datasets) | set(args.val_datasets)
    train = [k for k in keys if k not in val and store.get_task(k).dataset not in left_out]
    test = task_keys(store, "meta-test") if args.test else []
    base = PredictorConfig()
    t0 = time.perf_counter()
    loaded = load_episodes(store, train + val + test, base)
    episodes = dict(zip(train + val + test, loaded, strict=True))
    print(f"loaded {len(episodes)} episodes in {time.perf_counter() - t0:.0f} s")
    print("val: " + ", ".join(f"{k} ({store.get_task(k).dataset})" for k in val))
    quality = {k: task_report(store, k) for k in val + test}
    disc = [k for k in test if is_discriminating(quality[k])]
    unseen = [k for k in test if store.get_task(k).dataset in META_TEST_ONLY]
    groups = {"val": val, "test": test, "test-disc": disc, "test-unseen": unseen}
    schema = space_from_dict(store.get_teacher(store.teachers(keys[0])[0].teacher_id).space)
    schema = schema.graph_schema
    order = list(dict.fromkeys(store.get_task(k).dataset for k in train))
    results: dict[str, dict[str, dict[int, list[float]]]] = {}  # method -> group -> k -> rhos
    for group in ("val", "test"):
        eps = [episodes[k] for k in groups[group]]
        if eps:
            found = baselines(eps, [episodes[k] for k in train], args.shots, args.draws)
            for m, by_k in found.items():
                results.setdefault(m, {})[group] = by_k
    for name in args.variants:
        for limit in args.train_limit:
            for n_data in args.train_datasets:
                used = train[:limit] if limit else train
                if n_data:
                    used = [k for k in used if store.get_task(k).dataset in order[:n_data]]
                label = name + (f"@{limit}" if limit else "") + (f"@{n_data}ds" if n_data else "")
                for seed in args.seeds:
                    changes = dict(VARIANTS[name], seed=seed)
                    if args.steps is not None:
                        changes["steps"] = args.steps
                    config = base.replace(**changes)
                    model = DaSSPredictor(config, schema)
                    start = time.perf_counter()
                    metasgd, log = meta_train(
                        model, [episodes[k] for k in used], [episodes[k] for k in val]
                    )
                    print(
                        f"{label:<18} seed {seed}: {len(used)} tasks, "
                        f"best val {log.best_val_rho:.3f}"
                        f" at step {log.best_step}, {time.perf_counter() - start:.0f} s",
                        flush=True,
                    )
                    for group in ("val", "test"):
                        eps = [episodes[k] for k in groups[group]]
                        if not eps:
                            continue
                        rhos = evaluate(
                            model,
                            metasgd,
                            eps,
                            shots=args.shots,
                            draws=args.draws,
                            adapt=config.meta and config.adapt,
                            seed=0,
                        )
                        slot = results.setdefault(label, {}).setdefault(group, {})
                        for k, values in rhos.items():
                            slot.setdefault(k, []).append(values)
    report(results, groups, quality, args.shots)
    if args.out:
        args.out.write_text(
            json.dumps({"results": results, "groups": groups, "quality": quality}, default=str)
        )


def _per_task(values: Any) -> np.ndarray:
    """Per-task rho, averaged over predictor seeds where there are several."""
    arr = np.asarray(values, dtype=float)
    return arr.mean(0) if arr.ndim == 2 else arr


def report(results: dict, groups: dict[str, list[str]], quality: dict, shots: list[int]) -> None:
    """Mean rho per group and k for every method; per-task rho at each k for val and test."""
    methods = list(results)
    print("\nmean Spearman rho (predictor seeds averaged; baselines on the same draws)")
    print(f"{'group':<12}{'k':>3}" + "".join(f"{m[:12]:>13}" for m in methods))
    for group, keys in groups.items():
        source = "val" if group == "val" else "test"
        if not keys:
            continue
        index = [groups[source].index(k) for k in keys]
        for k in shots:
            cells = []
            for m in methods:
                by_k = results[m].get(source, {})
                cells.append(
                    f"{np.nanmean(_per_task(by_k[k])[index]):>13.3f}" if k in by_k else f"{'-':>13}"
                )
            print(f"{group:<12}{k:>3}" + "".join(cells))
    for source in ("val", "test"):
        keys = groups[source]
        for k in shots:
            if not keys:
                continue
            print(f"\n{source} tasks, k = {k}: rho per task (ceiling = sqrt(reliability))")
            print(f"{'task':<34}{'ceiling':>8}" + "".join(f"{m[:12]:>13}" for m in methods))
            for i, key in enumerate(keys):
                cells = []
                for m in methods:
                    by_k = results[m].get(source, {})
                    cells.append(f"{_per_task(by_k[k])[i]:>13.3f}" if k in by_k else f"{'-':>13}")
                flag = "*" if is_discriminating(quality[key]) else " "
                print(f"{key[-33:]:<33}{flag}{quality[key]['ceiling']:>8.2f}" + "".join(cells))


if __name__ == "__main__":
    main()
