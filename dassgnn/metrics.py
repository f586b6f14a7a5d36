r"""Rank statistics and label quality: the one home of every figure the
benchmarks, the records report and model selection compute.

Every function returns a **signed** value and **NaN where the figure is
undefined** (fewer than two or three points, a constant input, a NaN input
with ``nan_policy="propagate"``); nothing is silently replaced by 0 or a large
negative number.

Correlations between a method's scores and the measured accuracies:

- [`spearman()`][dassgnn.metrics.spearman] ($\rho$), [`kendall()`][dassgnn.metrics.kendall]
    ($\tau_b$) and
  [`pearson()`][dassgnn.metrics.pearson] ($r$), from `scipy.stats`;
- [`precision_at_k()`][dassgnn.metrics.precision_at_k]: the share of the $k$ best-scored students
    that
  are among the $k$ best measured;
- [`regret_at_1()`][dassgnn.metrics.regret_at_1]: the best measured accuracy minus that of the
  top-scored student.

Label quality (how far any predictor can go, see [`ceiling()`][dassgnn.metrics.ceiling]):

- [`agreement()`][dassgnn.metrics.agreement]: two measurements of the same runs (two seeds,
    trainers or
  devices);
- [`mean_pairwise_rho()`][dassgnn.metrics.mean_pairwise_rho]: the mean Spearman $\bar\rho$ over all
    pairs of seeds;
- [`reliability()`][dassgnn.metrics.reliability]: the Spearman–Brown reliability of the mean of $k$
  seeds, $r_k = k\bar\rho / (1 + (k-1)\bar\rho)$;
- [`ceiling()`][dassgnn.metrics.ceiling]: $\sqrt{r_k}$, the highest correlation a predictor can
  reach with a label of reliability $r_k$.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
from scipy import stats

from dassgnn.utils.validation import check_choice, check_int

__all__ = [
    "agreement",
    "bootstrap_ci",
    "ceiling",
    "kendall",
    "mean_pairwise_rho",
    "paired_bootstrap",
    "pearson",
    "precision_at_k",
    "rank_report",
    "regret_at_1",
    "reliability",
    "spearman",
    "support_draws",
]

_NAN_POLICIES = ("propagate", "omit")


def _pair(x: Any, y: Any, nan_policy: str, minimum: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The two inputs as float arrays, or None where the figure is undefined."""
    check_choice(nan_policy, "nan_policy", _NAN_POLICIES)
    a = np.asarray(x, dtype=float).ravel()
    b = np.asarray(y, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"x and y need the same length, got {a.size} and {b.size}")
    bad = ~np.isfinite(a) | ~np.isfinite(b)
    if bad.any():
        if nan_policy == "propagate":
            return None
        a, b = a[~bad], b[~bad]
    if a.size < minimum or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return a, b


def spearman(x: Any, y: Any, *, nan_policy: str = "propagate") -> float:
    """Spearman's rank correlation $\\rho$ of ``x`` and ``y``.

    Args:
        x (ArrayLike): Scores (e.g. predictions), one per student.
        y (ArrayLike): The measured values, in the same order.
        nan_policy (str, optional): ``"propagate"`` (a non-finite input gives
            NaN) or ``"omit"`` (drop the pairs with one). (default: `"propagate"`)

    Returns:
        float: $\\rho \\in [-1, 1]$; NaN for fewer than 3 pairs or a constant side.
    """
    pair = _pair(x, y, nan_policy, 3)
    return float("nan") if pair is None else float(stats.spearmanr(*pair).statistic)


def kendall(x: Any, y: Any, *, nan_policy: str = "propagate") -> float:
    """Kendall's $\\tau_b$ of ``x`` and ``y`` (arguments as
    [`spearman()`][dassgnn.metrics.spearman])."""
    pair = _pair(x, y, nan_policy, 3)
    return float("nan") if pair is None else float(stats.kendalltau(*pair).statistic)


def pearson(x: Any, y: Any, *, nan_policy: str = "propagate") -> float:
    """Pearson's linear correlation $r$ of ``x`` and ``y`` (arguments as
    [`spearman()`][dassgnn.metrics.spearman])."""
    pair = _pair(x, y, nan_policy, 3)
    return float("nan") if pair is None else float(stats.pearsonr(*pair).statistic)


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values; ties broken by position (stable)."""
    return np.argsort(-values, kind="stable")[:k]


def precision_at_k(scores: Any, truth: Any, k: int = 5) -> float:
    """The share of the ``k`` best-scored items that are among the ``k`` best measured.

    Ties are broken by position in both rankings (stable sort).

    Args:
        scores (ArrayLike): A method's scores, higher is better.
        truth (ArrayLike): The measured values.
        k (int, optional): How many. (default: `5`)

    Returns:
        float: In $[0, 1]$; NaN if a score is not finite or there are
        fewer than ``k`` items.
    """
    k = check_int(k, "k", minimum=1)
    s = np.asarray(scores, dtype=float).ravel()
    t = np.asarray(truth, dtype=float).ravel()
    if s.shape != t.shape:
        raise ValueError(f"scores and truth need the same length, got {s.size} and {t.size}")
    if s.size < k or not np.isfinite(s).all() or not np.isfinite(t).all():
        return float("nan")
    return len(set(_top(s, k).tolist()) & set(_top(t, k).tolist())) / k


def regret_at_1(scores: Any, truth: Any) -> float:
    """The best measured value minus the measured value of the top-scored item.

    Where several items share the top score, their mean measured value is used
    (a method that cannot tell them apart picks one of them at random).

    Args:
        scores (ArrayLike): A method's scores, higher is better.
        truth (ArrayLike): The measured values (e.g. accuracies in $[0, 1]$).

    Returns:
        float: $\\ge 0$, in the units of ``truth``; NaN if a score is not
        finite or there are no items.
    """
    s = np.asarray(scores, dtype=float).ravel()
    t = np.asarray(truth, dtype=float).ravel()
    if s.shape != t.shape:
        raise ValueError(f"scores and truth need the same length, got {s.size} and {t.size}")
    if s.size == 0 or not np.isfinite(s).all() or not np.isfinite(t).all():
        return float("nan")
    picked = t[s == s.max()].mean()
    return float(t.max() - picked)


def agreement(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """How well two measurements of the same runs agree: two seeds, two trainers
    or two devices.

    Args:
        x (Sequence[float]): Values of the first measurement.
        y (Sequence[float]): Those of the second, in the same order.

    Returns:
        dict: ``n``, ``rho`` (Spearman; NaN for fewer than 3 runs or a constant
        side), ``mean_abs_diff`` and ``mean_shift`` (mean of ``y - x``).

    Raises:
        ValueError: If the lengths differ or there are no runs.
    """
    if len(x) != len(y) or not len(x):
        raise ValueError(f"x and y need the same, non-zero length, got {len(x)} and {len(y)}")
    diff = np.subtract(y, x)
    return {
        "n": len(x),
        "rho": spearman(x, y),
        "mean_abs_diff": float(np.mean(np.abs(diff))),
        "mean_shift": float(np.mean(diff)),
    }


def mean_pairwise_rho(runs: Any) -> float:
    """The mean Spearman $\\bar\\rho$ over all pairs of seeds.

    Args:
        runs (ArrayLike): $(n, k)$ values of $n$ students under
            $k$ seeds; a NaN marks a missing run, and each pair of seeds
            uses the students measured with both.

    Returns:
        float: $\\bar\\rho$, NaN if no pair of seeds gives a defined $\\rho$.
    """
    values = np.asarray(runs, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"runs must be (students, seeds), got shape {values.shape}")
    rhos = [
        spearman(values[:, a], values[:, b], nan_policy="omit")
        for a, b in combinations(range(values.shape[1]), 2)
    ]
    finite = [r for r in rhos if not math.isnan(r)]
    return float(np.mean(finite)) if finite else float("nan")


def reliability(pair_rho: float, k: int) -> float:
    """The Spearman–Brown reliability of a label averaged over ``k`` seeds,
    $r_k = k\\bar\\rho / (1 + (k-1)\\bar\\rho)$.

    Args:
        pair_rho (float): The mean correlation $\\bar\\rho$ of two single seeds.
        k (int): Seeds averaged in the label.

    Returns:
        float: $r_k$; NaN if ``pair_rho`` is NaN. A negative
        $\\bar\\rho$ gives a negative reliability, reported as it is.
    """
    k = check_int(k, "k", minimum=1)
    if math.isnan(pair_rho):
        return float("nan")
    return k * pair_rho / (1 + (k - 1) * pair_rho)


def ceiling(reliability_k: float) -> float:
    """The highest correlation a predictor can reach with a label of
    reliability $r_k$: $\\sqrt{r_k}$.

    Returns:
        float: NaN for a NaN or negative reliability (the label then carries no
        rank signal that a ceiling could describe).
    """
    if math.isnan(reliability_k) or reliability_k < 0:
        return float("nan")
    return math.sqrt(reliability_k)


def rank_report(scores: Any, truth: Any, k: int = 5) -> dict[str, float]:
    """Every rank figure of one method on one task: ``spearman``, ``kendall``,
    ``pearson``, ``precision_at_k`` and ``regret_at_1`` (see each function)."""
    return {
        "spearman": spearman(scores, truth),
        "kendall": kendall(scores, truth),
        "pearson": pearson(scores, truth),
        "precision_at_k": precision_at_k(scores, truth, k),
        "regret_at_1": regret_at_1(scores, truth),
    }


def bootstrap_ci(
    scores: Any,
    truth: Any,
    statistic: Any = spearman,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile bootstrap confidence interval of a rank figure, resampling students.

    Args:
        scores (ArrayLike): A method's scores.
        truth (ArrayLike): The measured values.
        statistic (callable, optional): ``f(scores, truth) -> float``. (default:
            [`spearman()`][dassgnn.metrics.spearman])
        n_resamples (int, optional): Bootstrap resamples. (default: `1000`)
        confidence (float, optional): Coverage of the interval. (default: `0.95`)
        seed (int, optional): Seed of the resampling. (default: `0`)

    Returns:
        tuple[float, float]: The interval; NaN bounds where the statistic is
        undefined on too many resamples (more than half).
    """
    s = np.asarray(scores, dtype=float).ravel()
    t = np.asarray(truth, dtype=float).ravel()
    if s.shape != t.shape:
        raise ValueError(f"scores and truth need the same length, got {s.size} and {t.size}")
    n_resamples = check_int(n_resamples, "n_resamples", minimum=1)
    rng = np.random.default_rng(seed)
    values = np.array(
        [statistic(s[idx], t[idx]) for idx in rng.integers(0, s.size, (n_resamples, s.size))]
    )
    finite = values[np.isfinite(values)]
    if finite.size * 2 < n_resamples:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def paired_bootstrap(
    scores_a: Any,
    scores_b: Any,
    truth: Any,
    statistic: Any = spearman,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """How much better method A ranks than method B on the same students: the
    difference of a rank figure, $f(a, y) - f(b, y)$, with a percentile bootstrap
    interval from resampling the students (the same resample for both methods).

    Args:
        scores_a (ArrayLike): Method A's scores.
        scores_b (ArrayLike): Method B's scores, same students.
        truth (ArrayLike): The measured values.
        statistic (callable, optional): ``f(scores, truth) -> float``.
            (default: [`spearman`][dassgnn.metrics.spearman])
        n_resamples (int, optional): Bootstrap resamples. (default: `1000`)
        confidence (float, optional): Coverage of the interval. (default: `0.95`)
        seed (int, optional): Seed of the resampling. (default: `0`)

    Returns:
        tuple[float, float, float]: The difference on all students and the
        interval's bounds; an interval that excludes 0 says the difference is
        larger than the sampling noise of these students. NaN where undefined.
    """
    a = np.asarray(scores_a, dtype=float).ravel()
    b = np.asarray(scores_b, dtype=float).ravel()
    t = np.asarray(truth, dtype=float).ravel()
    if not a.shape == b.shape == t.shape:
        raise ValueError(f"scores and truth need the same length, got {a.size}, {b.size}, {t.size}")
    n_resamples = check_int(n_resamples, "n_resamples", minimum=1)
    diff = statistic(a, t) - statistic(b, t)
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            statistic(a[idx], t[idx]) - statistic(b[idx], t[idx])
            for idx in rng.integers(0, t.size, (n_resamples, t.size))
        ]
    )
    finite = values[np.isfinite(values)]
    if finite.size * 2 < n_resamples:
        return float(diff), float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(diff), float(low), float(high)


def support_draws(
    n: int, k: int, draws: int, seed: int | Sequence[int]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The few-shot protocol's splits of a task's $n$ measured students: ``draws`` random
    support sets of $k$ students and the rest, on which a method is scored; one split with
    an empty support set for $k = 0$. The same ``seed`` gives the same draws, so every
    method is scored on the same ones.

    Args:
        n (int): Students of the task.
        k (int): Support students, at most ``n - 3`` (three are left to rank, the fewest
            a rank correlation needs).
        draws (int): Support sets drawn.
        seed (int or Sequence[int]): Seeds the draws (e.g. ``[seed, task index, k]``).

    Returns:
        list[tuple[np.ndarray, np.ndarray]]: ``(support indices, rest indices)`` per draw.
    """
    n = check_int(n, "n", minimum=3)
    k = check_int(k, "k", minimum=0, maximum=n - 3)
    draws = check_int(draws, "draws", minimum=1)
    if k == 0:
        return [(np.zeros(0, dtype=np.int64), np.arange(n))]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(draws):
        order = rng.permutation(n)
        out.append((np.sort(order[:k]), np.sort(order[k:])))
    return out
