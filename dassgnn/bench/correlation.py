"""The correlation study: every method scores a task's measured students; its
rank figures against the seed-mean KD accuracy, with bootstrap intervals."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dassgnn.bench.tasks import BenchTask
from dassgnn.metrics import (
    bootstrap_ci,
    kendall,
    paired_bootstrap,
    pearson,
    precision_at_k,
    regret_at_1,
    spearman,
)
from dassgnn.ranking import RankingMethod


def score_methods(bench: BenchTask, methods: dict[str, RankingMethod]) -> dict[str, dict[str, Any]]:
    """Every method's scores of the task's measured students, and the seconds they took.

    Returns:
        dict: ``{method: {"scores": np.ndarray, "seconds": float, "error": str | None}}``;
        a method that fails on the task records its error (one line) and NaN scores.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, method in methods.items():
        start = time.perf_counter()
        try:
            scores = method.score(bench.data, bench.teacher, bench.archs)
            error = None
        except Exception as exc:  # reported in the results, the benchmark goes on
            scores = np.full(len(bench.archs), np.nan)
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        out[name] = {"scores": scores, "seconds": time.perf_counter() - start, "error": error}
    return out


def correlation_rows(
    bench: BenchTask,
    scored: dict[str, dict[str, Any]],
    *,
    k: int = 5,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per method: Spearman $\\rho$ (with a bootstrap interval over the
    students), Kendall $\\tau$, Pearson $r$, precision@``k``, regret@1 in
    accuracy points, the number of non-finite scores, and the task's ceiling.
    Figures are signed; a non-finite score makes the figures that need it NaN."""
    truth = bench.labels
    rows = []
    for name, entry in scored.items():
        s = np.asarray(entry["scores"], dtype=float)
        low, high = bootstrap_ci(s, truth, n_resamples=n_resamples, seed=seed)
        rows.append(
            {
                "task": bench.key,
                "task_name": bench.name,
                "method": name,
                "spearman": spearman(s, truth),
                "spearman_low": low,
                "spearman_high": high,
                "kendall": kendall(s, truth),
                "pearson": pearson(s, truth),
                f"precision_at_{k}": precision_at_k(s, truth, k),
                "regret_at_1": 100 * regret_at_1(s, truth),
                "non_finite": int((~np.isfinite(s)).sum()),
                "seconds": entry["seconds"],
                "error": entry["error"],
                "ceiling": bench.quality["ceiling"],
                "discriminating": bench.discriminating,
            }
        )
    return rows


def compare_with_size(
    bench: BenchTask,
    scored: dict[str, dict[str, Any]],
    method: str = "dass",
    baselines: tuple[str, ...] = ("params", "flops"),
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any] | None:
    """``method`` against the better (on this task) of the size baselines: the
    difference of Spearman $\\rho$ with a paired bootstrap interval over the students.

    Returns:
        dict or None: ``baseline``, ``diff``, ``low``, ``high``; `None` if a method is missing.
    """
    present = [b for b in baselines if b in scored]
    if method not in scored or not present:
        return None
    truth = bench.labels
    best = max(present, key=lambda b: np.nan_to_num(spearman(scored[b]["scores"], truth), nan=-2))
    diff, low, high = paired_bootstrap(
        scored[method]["scores"], scored[best]["scores"], truth, n_resamples=n_resamples, seed=seed
    )
    return {
        "task": bench.key,
        "method": method,
        "baseline": best,
        "diff": diff,
        "low": low,
        "high": high,
    }
