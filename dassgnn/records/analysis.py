"""How good the measured labels are: noise ceiling, spread and confounds per task.

For each task this computes what decides whether a predictor can be judged on
the records: Spearman $\\rho$ between two KD seeds of the same students
(the noise ceiling no predictor can beat), the spread of KD accuracies, the
mean seed-to-seed difference, $\\rho$ of the parameter count with KD
accuracy (if that is near the ceiling, size alone ranks the students) and
$\\rho$ of KD with scratch accuracy, and the mean gain of KD over scratch.

With more than two seeds it also gives the mean $\\rho$ over all seed
pairs, the reliability of the label averaged over the $k$ seeds
(Spearman-Brown, $k\\bar\\rho / (1 + (k-1)\\bar\\rho)$), the measured
$\\rho$ between the means of two halves of the seeds, and the mean
$\\rho$ of seed pairs made by the same trainer against pairs made by
different trainers (loop and batched; a gap would show that mixing them adds noise).
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from typing import Any

import numpy as np

from dassgnn.metrics import agreement, ceiling, kendall, reliability, spearman
from dassgnn.records.store import RecordStore

SATURATED = 0.97
"""Accuracy at or above which a task counts as saturated (its ceiling is flagged)."""


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _seed_figures(
    kd: dict[str, dict[int, float]], seeds: list[int], made_by: dict[int, set]
) -> dict[str, Any]:
    pair_rhos = {}
    for a, b in combinations(seeds, 2):
        both = [v for v in kd.values() if a in v and b in v]
        pair_rhos[a, b] = spearman([v[a] for v in both], [v[b] for v in both])
    r = _mean(list(pair_rhos.values()))
    k = len(seeds)
    complete = [v for v in kd.values() if len(v) == k]
    half = k // 2
    split = (
        spearman(
            [float(np.mean([v[s] for s in seeds[:half]])) for v in complete],
            [float(np.mean([v[s] for s in seeds[half : 2 * half]])) for v in complete],
        )
        if k >= 4
        else float("nan")
    )
    same = [x for (a, b), x in pair_rhos.items() if made_by[a] == made_by[b]]
    cross = [x for (a, b), x in pair_rhos.items() if made_by[a] != made_by[b]]
    return {
        "seeds": seeds,
        "pair_rho": r,
        "mean_rho": reliability(r, k) if k > 1 else float("nan"),
        "ceiling": ceiling(reliability(r, k)) if k > 1 else float("nan"),
        "split_rho": split,
        "rho_same_trainer": _mean(same),
        "rho_cross_trainer": _mean(cross),
    }


def is_discriminating(quality: dict[str, Any]) -> bool:
    """Whether a task's labels can tell ranking methods apart: seed-mean reliability
    >= 0.9, best student below 95 %, KD spread at least three times the mean seed-to-seed
    difference (``quality`` is a [`task_report`][dassgnn.records.analysis.task_report])."""
    q = quality
    if not q or np.isnan(q.get("mean_rho", float("nan"))):
        return False
    spread = q["kd_max"] - q["kd_min"]
    return bool(q["mean_rho"] >= 0.9 and q["kd_max"] < 0.95 and spread >= 3 * q["seed_diff"])


def task_report(store: RecordStore, task_key: str) -> dict[str, Any]:
    """Label-quality figures of one task's runs (all recipes of the task's KD runs pooled
    by architecture and seed; a task is expected to use one recipe).

    Args:
        store (RecordStore): The records.
        task_key (str): The task.

    Returns:
        dict: ``students`` (with a KD run), ``paired`` (with two KD seeds),
        ``seed_rho`` and ``seed_tau`` (ceiling), ``kd_min``/``kd_max``/``kd_std``
        (of the seed-mean KD accuracy), ``seed_diff`` (mean absolute difference
        of the two seeds), ``rho_params``, ``rho_flops``, ``rho_scratch``,
        ``scratch_mean``, ``kd_gain`` (mean KD − scratch accuracy over the
        students with both), ``teacher_acc``, ``saturated``, ``dataset``;
        over all seeds: ``seeds``, ``pair_rho``, ``mean_rho`` (the reliability of
        the seed-mean label), ``ceiling`` (its square root, the highest
        correlation a predictor can reach with that label), ``split_rho``,
        ``rho_same_trainer``, ``rho_cross_trainer`` (see the module's text).
        ``seed_rho``, ``seed_tau`` and ``seed_diff`` compare the two lowest seeds.
    """
    kd: dict[str, dict[int, float]] = defaultdict(dict)
    made_by: dict[int, set] = defaultdict(set)
    for run in store.runs(task_key, mode="kd"):
        if run.test_acc is not None:
            kd[run.arch_id][run.seed] = run.test_acc
            made_by[run.seed].add(run.trainer)
    scratch = {
        r.arch_id: r.test_acc
        for r in store.runs(task_key, mode="scratch")
        if r.test_acc is not None
    }
    cost = {s.arch_id: (s.params, s.flops) for s in store.students()}
    mean = {a: float(np.mean(list(v.values()))) for a, v in kd.items()}
    seeds = sorted({s for v in kd.values() for s in v})
    pairs = [
        (v[seeds[0]], v[seeds[1]])
        for v in kd.values()
        if len(seeds) > 1 and set(seeds[:2]) <= set(v)
    ]
    first = agreement(*zip(*pairs, strict=True)) if pairs else None
    archs = sorted(mean)
    both = [a for a in archs if a in scratch]
    values = np.array([mean[a] for a in archs]) if archs else np.array([float("nan")])
    teachers = store.teachers(task_key)
    report: dict[str, Any] = {
        "task": task_key,
        "dataset": store.get_task(task_key).dataset,
        "role": store.task_role(task_key),
        "students": len(archs),
        "paired": len(pairs),
        "seed_rho": first["rho"] if first else float("nan"),
        "seed_tau": kendall(*zip(*pairs, strict=True)) if pairs else float("nan"),
        "kd_min": float(values.min()),
        "kd_max": float(values.max()),
        "kd_std": float(values.std()),
        "seed_diff": first["mean_abs_diff"] if first else float("nan"),
        "rho_params": spearman(
            [cost[a][0] for a in archs if a in cost], [mean[a] for a in archs if a in cost]
        ),
        "rho_flops": spearman(
            [cost[a][1] for a in archs if a in cost], [mean[a] for a in archs if a in cost]
        ),
        "rho_scratch": spearman([mean[a] for a in both], [scratch[a] for a in both]),
        "scratch_mean": float(np.mean(list(scratch.values()))) if scratch else float("nan"),
        "kd_gain": float(np.mean([mean[a] - scratch[a] for a in both])) if both else float("nan"),
        "teacher_acc": teachers[0].test_acc if teachers else float("nan"),
    }
    report.update(_seed_figures(kd, seeds, made_by))
    report["saturated"] = bool(report["kd_max"] >= SATURATED)
    return report


def label_report(store: RecordStore, role: str | None = None) -> list[dict[str, Any]]:
    """[`task_report()`][dassgnn.records.task_report] of every task (of one ``role``) that has KD
    runs."""
    keys = [t.key for t in store.tasks(role)]
    return [task_report(store, k) for k in keys if store.runs(k, mode="kd")]


def _pair(same: float, cross: float) -> str:
    """``same/cross`` with ``-`` for a figure that does not exist (one trainer only)."""
    return "/".join("-" if np.isnan(x) else f"{x:.2f}" for x in (same, cross))


def format_label_report(reports: list[dict[str, Any]]) -> str:
    """A plain-text table of [`label_report()`][dassgnn.records.label_report] (accuracies in %)."""
    width = max([len("task"), *(len(r["task"]) for r in reports)]) + 2
    head = (
        f"{'task':<{width}}{'role':<11}{'n':>4}{'pairs':>6}{'seed rho':>9}{'seeds':>6}"
        f"{'pair rho':>9}{'mean rho':>9}{'ceiling':>8}{'KD range %':>13}"
        f"{'seed diff':>10}{'rho(params)':>12}{'rho(scratch)':>13}{'scratch':>8}{'KD-scr':>7}"
        f"{'teacher':>8}{'trainers same/cross':>21}"
    )
    lines = [head]
    for r in reports:
        span = f"{100 * r['kd_min']:.1f}-{100 * r['kd_max']:.1f}"
        flag = "  saturated" if r["saturated"] else ""
        lines.append(
            f"{r['task']:<{width}}{(r['role'] or '-'):<11}{r['students']:>4}{r['paired']:>6}"
            f"{r['seed_rho']:>9.2f}{len(r['seeds']):>6}{r['pair_rho']:>9.2f}{r['mean_rho']:>9.2f}"
            f"{r['ceiling']:>8.2f}"
            f"{span:>13}{100 * r['seed_diff']:>10.2f}"
            f"{r['rho_params']:>12.2f}{r['rho_scratch']:>13.2f}{100 * r['scratch_mean']:>8.1f}"
            f"{100 * r['kd_gain']:>7.1f}"
            f"{100 * r['teacher_acc']:>8.1f}"
            f"{_pair(r['rho_same_trainer'], r['rho_cross_trainer']):>21}{flag}"
        )
    return "\n".join(lines)


def format_dataset_summary(reports: list[dict[str, Any]]) -> str:
    """Per dataset, over its tasks in ``reports``: teacher and KD accuracy ranges,
    the mean spread of KD accuracy (max − min) and the mean and range of
    $\\rho$ (params, KD), as plain text (accuracies in %)."""
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in reports:
        by_dataset[r["dataset"]].append(r)
    lines = [
        f"{'dataset':<20}{'tasks':>6}{'teacher %':>13}{'KD %':>13}{'mean spread':>12}"
        f"{'rho(params) mean [range]':>26}"
    ]
    for name, rs in by_dataset.items():
        teacher = [100 * r["teacher_acc"] for r in rs]
        low, high = min(100 * r["kd_min"] for r in rs), max(100 * r["kd_max"] for r in rs)
        spread = _mean([100 * (r["kd_max"] - r["kd_min"]) for r in rs])
        rho = [r["rho_params"] for r in rs]
        lines.append(
            f"{name:<20}{len(rs):>6}{f'{min(teacher):.1f}-{max(teacher):.1f}':>13}"
            f"{f'{low:.1f}-{high:.1f}':>13}{spread:>12.1f}"
            f"{f'{_mean(rho):.2f} [{min(rho):.2f}, {max(rho):.2f}]':>26}"
        )
    return "\n".join(lines)
