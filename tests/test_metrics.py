import math

import numpy as np
import pytest
from scipy.stats import kendalltau, pearsonr, spearmanr

from dassgnn.metrics import (
    agreement,
    bootstrap_ci,
    ceiling,
    kendall,
    mean_pairwise_rho,
    paired_bootstrap,
    pearson,
    precision_at_k,
    rank_report,
    regret_at_1,
    reliability,
    spearman,
)

X = [0.3, 0.1, 0.4, 0.15, 0.9, 0.26]
Y = [0.61, 0.52, 0.70, 0.55, 0.66, 0.60]


def test_correlations_match_scipy_and_keep_their_sign():
    assert spearman(X, Y) == pytest.approx(spearmanr(X, Y).statistic)
    assert kendall(X, Y) == pytest.approx(kendalltau(X, Y).statistic)
    assert pearson(X, Y) == pytest.approx(pearsonr(X, Y).statistic)
    neg = [-v for v in X]
    assert spearman(neg, Y) == pytest.approx(-spearman(X, Y)) and spearman(neg, Y) < 0


@pytest.mark.parametrize("f", [spearman, kendall, pearson])
def test_undefined_correlations_are_nan(f):
    assert math.isnan(f([1, 1, 1], [1, 2, 3]))  # constant scores
    assert math.isnan(f([1, 2, 3], [5, 5, 5]))  # constant truth
    assert math.isnan(f([1, 2], [1, 2]))  # too few
    assert math.isnan(f([1, np.nan, 3, 4], [1, 2, 3, 4]))  # propagate
    assert f([1, np.nan, 3, 4], [1, 2, 3, 4], nan_policy="omit") == pytest.approx(1.0)
    assert math.isnan(f([1, np.inf, 3, 4], [1, 2, 3, 4]))
    with pytest.raises(ValueError, match="same length"):
        f([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="nan_policy must be one of"):
        f(X, Y, nan_policy="raise")


def test_precision_at_k():
    truth = [0.9, 0.8, 0.7, 0.6, 0.5]
    assert precision_at_k([5, 4, 3, 2, 1], truth, k=2) == 1.0
    assert precision_at_k([1, 2, 3, 4, 5], truth, k=2) == 0.0
    assert precision_at_k([5, 1, 4, 2, 3], truth, k=2) == 0.5
    assert math.isnan(precision_at_k([1, np.nan, 3, 4, 5], truth, k=2))
    assert math.isnan(precision_at_k([1, 2], [1, 2], k=3))
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        precision_at_k(truth, truth, k=0)


def test_regret_at_1():
    truth = [0.7, 0.9, 0.8]
    assert regret_at_1([0.1, 0.5, 0.2], truth) == pytest.approx(0.0)
    assert regret_at_1([0.9, 0.5, 0.2], truth) == pytest.approx(0.2)
    # a constant scorer picks at random among the tied: the mean regret
    assert regret_at_1([1, 1, 1], truth) == pytest.approx(0.9 - 0.8)
    assert math.isnan(regret_at_1([np.nan, 1, 2], truth))
    assert math.isnan(regret_at_1([], []))


def test_reliability_and_ceiling():
    assert reliability(0.5, 1) == pytest.approx(0.5)
    assert reliability(0.5, 4) == pytest.approx(4 * 0.5 / (1 + 3 * 0.5))
    assert ceiling(reliability(0.5, 4)) == pytest.approx(math.sqrt(0.8))
    assert math.isnan(reliability(float("nan"), 4)) and math.isnan(ceiling(float("nan")))
    assert reliability(-0.2, 2) < 0 and math.isnan(ceiling(-0.1))
    with pytest.raises(ValueError, match="k must be >= 1"):
        reliability(0.5, 0)


def test_mean_pairwise_rho_uses_students_measured_with_both_seeds():
    rng = np.random.default_rng(0)
    true = rng.normal(size=30)
    runs = np.stack([true + rng.normal(scale=0.5, size=30) for _ in range(3)], axis=1)
    expected = np.mean([spearman(runs[:, a], runs[:, b]) for a, b in ((0, 1), (0, 2), (1, 2))])
    assert mean_pairwise_rho(runs) == pytest.approx(expected)
    runs[0, 2] = np.nan
    rho_02 = spearman(runs[1:, 0], runs[1:, 2])
    rho_12 = spearman(runs[1:, 1], runs[1:, 2])
    expected = np.mean([spearman(runs[:, 0], runs[:, 1]), rho_02, rho_12])
    assert mean_pairwise_rho(runs) == pytest.approx(expected)
    assert math.isnan(mean_pairwise_rho(np.ones((5, 2))))
    with pytest.raises(ValueError, match="students, seeds"):
        mean_pairwise_rho([1, 2, 3])


def test_rank_report_and_bootstrap():
    r = rank_report(X, Y, k=2)
    assert set(r) == {"spearman", "kendall", "pearson", "precision_at_k", "regret_at_1"}
    assert r["spearman"] == spearman(X, Y)
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    y = x + rng.normal(scale=0.5, size=60)
    low, high = bootstrap_ci(x, y, seed=0, n_resamples=300)
    assert low < spearman(x, y) < high and high - low < 0.3
    assert (low, high) == bootstrap_ci(x, y, seed=0, n_resamples=300)
    assert all(math.isnan(v) for v in bootstrap_ci([1, 1, 1], [1, 2, 3], n_resamples=50))


def test_agreement():
    x, y = [0.60, 0.70, 0.65, 0.80], [0.62, 0.69, 0.66, 0.77]
    a = agreement(x, y)
    assert a["n"] == 4 and a["rho"] == pytest.approx(spearmanr(x, y).statistic)
    assert a["mean_abs_diff"] == pytest.approx((0.02 + 0.01 + 0.01 + 0.03) / 4)
    assert a["mean_shift"] == pytest.approx((0.02 - 0.01 + 0.01 - 0.03) / 4)
    assert math.isnan(agreement([0.5, 0.6], [0.5, 0.7])["rho"])
    with pytest.raises(ValueError, match="same, non-zero length, got 2 and 1"):
        agreement([0.5, 0.6], [0.5])
    with pytest.raises(ValueError, match="got 0 and 0"):
        agreement([], [])


def test_paired_bootstrap_tells_a_real_difference_from_noise():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=50)
    good = truth + rng.normal(scale=0.3, size=50)
    bad = truth + rng.normal(scale=3.0, size=50)
    diff, low, high = paired_bootstrap(good, bad, truth, n_resamples=300)
    assert diff == pytest.approx(spearman(good, truth) - spearman(bad, truth))
    assert 0 < low <= diff <= high
    same, low, high = paired_bootstrap(
        good, good + 1e-9 * rng.normal(size=50), truth, n_resamples=300
    )
    assert low <= 0 <= high and abs(same) < 1e-6
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap(good, bad[:3], truth)


def test_support_draws_are_disjoint_complete_and_repeatable():
    from dassgnn.metrics import support_draws

    draws = support_draws(30, 10, 20, [0, 3])
    assert len(draws) == 20
    for support, rest in draws:
        assert len(support) == 10 and len(rest) == 20
        assert sorted([*support, *rest]) == list(range(30))
    again = support_draws(30, 10, 20, [0, 3])
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(draws, again, strict=True))
    other = support_draws(30, 10, 20, [1, 3])
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(draws, other, strict=True))
    assert len({tuple(s) for s, _ in draws}) > 15  # different support sets
    ((support, rest),) = support_draws(30, 0, 20, 0)
    assert support.size == 0 and rest.tolist() == list(range(30))
    with pytest.raises(ValueError, match="k must be"):
        support_draws(5, 3, 2, 0)
