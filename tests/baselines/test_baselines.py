import math

import numpy as np
import pytest
import torch
from torch import nn

from dassgnn.baselines import DisWOT, RandomRanker, grad_norm, naswot, snip, synflow, task_batch
from dassgnn.ranking import Teacher, create_ranker


@pytest.fixture(scope="module")
def teacher(digits_teacher, small_space):
    model, result = digits_teacher
    return Teacher(model, small_space, result.test_acc)


def _linear_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, bias=False), nn.Flatten(), nn.Linear(3 * 4 * 4, 2, bias=False)
    )


def test_synflow_of_a_linear_network_is_twice_its_flow():
    net = _linear_net()
    x = torch.randn(4, 1, 6, 6)
    with torch.no_grad():
        flow = nn.Sequential(*[m for m in net]).double()
        for p in flow.parameters():
            p.abs_()
        r = float(flow(torch.ones(1, 1, 6, 6, dtype=torch.float64)).sum())
    # R is homogeneous of degree one in each layer's weights (Euler): sum |w dR/dw| = R a layer
    assert synflow(net, x, torch.zeros(4, dtype=torch.long)) == pytest.approx(2 * r, rel=1e-9)


def test_snip_and_grad_norm_match_autograd():
    net = _linear_net()
    x, y = torch.randn(8, 1, 6, 6), torch.tensor([0, 1] * 4)
    loss = nn.functional.cross_entropy(net(x), y)
    weights = [net[0].weight, net[2].weight]
    grads = torch.autograd.grad(loss, weights)
    expected_snip = sum(
        float((w * g).abs().sum().detach()) for w, g in zip(weights, grads, strict=True)
    )
    expected_norm = sum(float(g.norm()) for g in grads)
    assert snip(net, x, y) == pytest.approx(expected_snip, rel=1e-6)
    assert grad_norm(net, x, y) == pytest.approx(expected_norm, rel=1e-6)


def test_naswot_counts_functional_relus_and_reports_a_singular_kernel_as_nan(small_space):
    model = small_space.build(small_space.teacher, 5, 1, seed=0)
    x = torch.randn(6, 1, 16, 16)
    score = naswot(model, x, torch.zeros(6, dtype=torch.long))
    assert math.isfinite(score) and score > 0
    same = x[:1].expand(6, -1, -1, -1)  # identical images: K has rank one
    assert math.isnan(naswot(model, same, torch.zeros(6, dtype=torch.long)))


@pytest.mark.parametrize("name", ["synflow", "snip", "grad_norm", "naswot"])
def test_proxies_rank_the_task_reproducibly(name, digits16, teacher, small_space):
    """Each proxy grows with the student's capacity on this small family, as the papers
    report (a proxy that returned noise or a constant would fail), repeatably."""
    from scipy.stats import spearmanr

    archs = small_space.sample(12, seed=4)
    method = create_ranker(name, batch_size=16)
    scores = method.score(digits16, teacher, archs)
    assert scores.shape == (12,) and np.array_equal(scores, method.score(digits16, teacher, archs))
    params = [small_space.params(a, 5, 1) for a in archs]
    assert spearmanr(scores, params).statistic > 0.5  # measured: 0.66 (grad_norm) to 0.95
    other = create_ranker(name, batch_size=16, seed=1).score(digits16, teacher, archs)
    assert not np.array_equal(other, scores)  # the seed draws the batch and the weights
    assert str(method) == f"{type(method).__name__}(batch_size=16, seed=0)"


def test_task_batch_is_seeded(digits16):
    x, y = task_batch(digits16, 10, 3)
    x2, y2 = task_batch(digits16, 10, 3)
    assert x.shape == (10, 1, 16, 16) and torch.equal(x, x2) and torch.equal(y, y2)
    assert abs(float(x.mean())) < 1.0


def test_diswot_prefers_the_teacher_itself(digits16, teacher, small_space):
    archs = [small_space.teacher, *small_space.sample(4, seed=2)]
    scores = DisWOT(batch_size=16).score(digits16, teacher, archs)
    assert scores[0] == pytest.approx(0.0, abs=1e-5)
    assert bool((scores[1:] < 0).all())


def test_random_is_order_free(digits16, teacher, small_space):
    archs = small_space.sample(6, seed=1)
    a = RandomRanker(seed=1).score(digits16, teacher, archs)
    b = RandomRanker(seed=1).score(digits16, teacher, archs[::-1])
    assert np.array_equal(a, b[::-1]) and not np.array_equal(
        a, RandomRanker(2).score(digits16, teacher, archs)
    )
    assert bool(((a >= 0) & (a < 1)).all())
