import math

import pytest
import torch
import torch.nn.functional as F

from dassgnn.kd import KDLoss


def test_matches_hinton_formula():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    loss = KDLoss(alpha=0.3, temperature=2.0)
    assert str(loss) == "KDLoss(alpha=0.3, temperature=2.0, label_smoothing=0.0)"
    p_t = F.softmax(t / 2, dim=1)
    kl = (p_t * (p_t.log() - F.log_softmax(s / 2, dim=1))).sum(1).mean()
    expected = 0.3 * F.cross_entropy(s, y) + 0.7 * 4 * kl
    assert torch.allclose(loss(s, y, t), expected, atol=1e-6)


def test_without_teacher_is_cross_entropy():
    s, y = torch.randn(4, 3), torch.tensor([0, 2, 1, 1])
    assert torch.allclose(KDLoss(alpha=0.1)(s, y), F.cross_entropy(s, y))


def test_kd_term_vanishes_when_student_equals_teacher():
    s, y = torch.randn(4, 3), torch.tensor([0, 2, 1, 1])
    assert math.isclose(float(KDLoss(alpha=0.0)(s, y, s.clone())), 0.0, abs_tol=1e-6)


def test_gradient_flows_to_student_only():
    s = torch.randn(4, 3, requires_grad=True)
    t = torch.randn(4, 3, requires_grad=True)
    KDLoss()(s, torch.tensor([0, 1, 2, 0]), t.detach()).backward()
    assert s.grad is not None and t.grad is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 1.5}, "alpha"),
        ({"temperature": 0}, "temperature"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
    ],
)
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KDLoss(**kwargs)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="do not match"):
        KDLoss()(torch.randn(4, 3), torch.zeros(4, dtype=torch.long), torch.randn(4, 5))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_per_student_reduction_matches_one_loss_a_student(smoothing):
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(8, 3, 5, generator=g), torch.randn(8, 5, generator=g)
    y = torch.randint(0, 5, (8,), generator=g)
    per = KDLoss(0.3, 2.0, smoothing, reduction="none")
    assert str(per) == f"KDLoss(alpha=0.3, temperature=2.0, label_smoothing={smoothing}, " + (
        "reduction='none')"
    )
    out = per(s, y, t)
    assert out.shape == (8, 3)
    for p in range(3):
        one = KDLoss(0.3, 2.0, smoothing)(s[:, p], y, t)
        assert torch.allclose(out[:, p].mean(), one, atol=1e-6)
    assert torch.allclose(KDLoss(reduction="sum")(s[:, 0], y, t), KDLoss()(s[:, 0], y, t) * 8)
    assert KDLoss(reduction="none")(s[:, 0], y).shape == (8,)
    assert torch.allclose(
        KDLoss(reduction="mean")(s, y), F.cross_entropy(s.reshape(-1, 5), y.repeat_interleave(3))
    )


def test_bad_reduction_and_labels():
    with pytest.raises(ValueError, match=r"reduction must be one of \['mean', 'sum', 'none'\]"):
        KDLoss(reduction="batchmean")
    with pytest.raises(ValueError, match="one label per sample"):
        KDLoss()(torch.randn(4, 3), torch.zeros(5, dtype=torch.long))
