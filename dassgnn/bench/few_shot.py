"""The few-shot study: Spearman $\\rho$ against the number $k$ of measured students.

For each meta-test task and each $k$, ``draws`` support sets of $k$ students are drawn
([`support_draws`][dassgnn.metrics.support_draws], the same draws for every method); the
support students carry the accuracy of one KD seed (the task's first, as a user measures
them once), and each method scores the other students, against whose seed-mean label its
$\\rho$ is measured. A method that does not use measured students is scored once a task
and its $\\rho$ taken on the same subsets, so every method is compared on the same
students.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from dassgnn.bench.tasks import BenchTask
from dassgnn.data import META_TEST_ONLY
from dassgnn.metrics import spearman, support_draws
from dassgnn.ranking import RankingMethod

SHOTS = (0, 5, 10, 20)
"""The $k$ of the study."""


def task_seed(seed: int, key: str) -> list[int]:
    """The seed sequence of a task's draws (the same for every method)."""
    return [seed, zlib.crc32(key.encode("utf-8"))]


def _interval(values: np.ndarray, n_resamples: int, seed: int) -> tuple[float, float]:
    """A percentile bootstrap 95 % interval of the mean over draws."""
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = rng.choice(finite, size=(n_resamples, finite.size)).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _scores(
    method: RankingMethod, bench: BenchTask, archs: list[Any], measured: dict[Any, float] | None
) -> tuple[np.ndarray, str | None]:
    """A method's scores, or NaN and the error (one line) where it fails: the benchmark
    reports the failure and goes on."""
    try:
        return method.score(bench.data, bench.teacher, archs, measured=measured), None
    except Exception as exc:
        return np.full(len(archs), np.nan), f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


def few_shot_rows(
    bench: BenchTask,
    methods: dict[str, RankingMethod],
    shots: tuple[int, ...] = SHOTS,
    draws: int = 20,
    *,
    seed: int = 0,
    n_resamples: int = 1000,
) -> list[dict[str, Any]]:
    """One row per (method, $k$) of one task: the mean $\\rho$ over the draws, its bootstrap
    interval over draws, and the task's ceiling.

    Returns:
        list[dict]: ``method``, ``k``, ``task``, ``task_name``, ``spearman``,
        ``spearman_low``, ``spearman_high``, ``draws``, ``ceiling``, ``discriminating``,
        ``unseen_dataset``, ``error``.
    """
    labels = bench.labels
    first = np.array([row[np.isfinite(row)][0] for row in bench.runs])  # one seed a student
    n = len(bench.archs)
    rows = []
    fixed: dict[str, np.ndarray] = {}
    errors: dict[str, str | None] = {}
    for name, method in methods.items():
        if not method.uses_measured:
            fixed[name], errors[name] = _scores(method, bench, bench.archs, None)
    for k in shots:
        if k > n - 3:
            continue
        splits = support_draws(n, k, draws, [*task_seed(seed, bench.key), k])
        for name, method in methods.items():
            rhos, error = [], errors.get(name)
            for support, rest in splits:
                if name in fixed:
                    scores = fixed[name][rest]
                else:
                    measured = {bench.archs[i]: float(first[i]) for i in support}
                    candidates = [bench.archs[i] for i in rest]
                    scores, error = _scores(method, bench, candidates, measured)
                rhos.append(spearman(scores, labels[rest]))
            values = np.asarray(rhos, dtype=float)
            low, high = _interval(values, n_resamples, seed)
            rows.append(
                {
                    "method": name,
                    "k": int(k),
                    "task": bench.key,
                    "task_name": bench.name,
                    "spearman": float(np.nanmean(values)) if np.isfinite(values).any() else np.nan,
                    "spearman_low": low,
                    "spearman_high": high,
                    "draws": len(splits),
                    "ceiling": bench.quality["ceiling"],
                    "discriminating": bench.discriminating,
                    "unseen_dataset": bench.task.dataset in META_TEST_ONLY,
                    "error": error,
                }
            )
    return rows


def few_shot_means(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[int, float]]]:
    """Mean $\\rho$ per group (``all``, ``discriminating``, ``unseen``), method and $k$."""
    groups = {
        "all": lambda r: True,
        "discriminating": lambda r: r["discriminating"],
        "unseen": lambda r: r["unseen_dataset"],
    }
    out: dict[str, dict[str, dict[int, float]]] = {}
    for group, keep in groups.items():
        chosen = [r for r in rows if keep(r)]
        for r in chosen:
            out.setdefault(group, {}).setdefault(r["method"], {})
        for method, by_k in out.get(group, {}).items():
            for k in sorted({r["k"] for r in chosen}):
                vals = [r["spearman"] for r in chosen if r["method"] == method and r["k"] == k]
                by_k[k] = float(np.nanmean(vals)) if vals else float("nan")
    return out


def few_shot_verdict(
    rows: list[dict[str, Any]],
    method: str = "dass",
    bar: str = "ridge",
    target_k: int = 10,
    targets: tuple[float, float] = (0.90, 0.75),
    margin: float = 0.05,
    floor_gap: float = 0.15,
) -> list[str]:
    """Plain sentences computed from the few-shot rows: the zero-shot floor (``method`` at
    $k = 0$ against the better of parameters and FLOPs, in the mean over all tasks and over
    the discriminating ones, and per task within ``floor_gap``), the targets at
    ``target_k`` (mean over the discriminating tasks, mean over all) and the margin over
    ``bar`` at the same $k$."""
    means = few_shot_means(rows)
    lines: list[str] = []
    if method not in means.get("all", {}):
        return [f"{method} was not scored in the few-shot study."]
    for group in ("all", "discriminating"):
        m = means.get(group, {})
        if method not in m or 0 not in m[method]:
            continue
        size = max((b for b in ("params", "flops") if b in m), key=lambda b: m[b].get(0, -2))
        ours, theirs = m[method][0], m[size][0]
        word = "meets" if ours >= theirs else "does NOT meet"
        lines.append(
            f"k = 0, {group} tasks: {method} mean ρ {ours:.2f} vs {size} {theirs:.2f}: "
            f"{word} the zero-shot floor."
        )
    by_task: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["k"] == 0:
            by_task.setdefault(r["task_name"], {})[r["method"]] = r["spearman"]
    size_mean = means["all"]
    size = max((b for b in ("params", "flops") if b in size_mean), key=lambda b: size_mean[b][0])
    low = [
        f"{t} ({v[method]:.2f} vs {v[size]:.2f})"
        for t, v in by_task.items()
        if method in v and size in v and v[method] < v[size] - floor_gap
    ]
    lines.append(
        f"k = 0: no task more than {floor_gap:.2f} below {size}."
        if not low
        else f"k = 0: {len(low)} task(s) more than {floor_gap:.2f} below {size}: {', '.join(low)}."
    )
    for group, target in zip(("discriminating", "all"), targets, strict=True):
        m = means.get(group, {})
        if method not in m or target_k not in m[method]:
            continue
        ours = m[method][target_k]
        lines.append(
            f"k = {target_k}, {group} tasks: {method} mean ρ {ours:.2f} (target {target:.2f}: "
            f"{'met' if ours >= target else 'NOT met'})"
            + (
                f"; {bar} {m[bar][target_k]:.2f}, margin {ours - m[bar][target_k]:+.2f} "
                f"(target +{margin:.2f}: "
                f"{'met' if ours - m[bar][target_k] >= margin else 'NOT met'})."
                if bar in m and target_k in m[bar]
                else "."
            )
        )
    return lines
