import pytest
import torch

from dassgnn.predictor import ResidualRidge


def _students(k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(k, 8, generator=g) * torch.linspace(0.5, 3.0, 8) + 4.0
    pred = 0.7 + 0.01 * torch.randn(k, generator=g)
    return features, pred


def test_recovers_a_linear_residual():
    features, pred = _students(40)
    z = (features - features.mean(0)) / features.std(0, unbiased=False)
    target = pred + 0.05 + 0.02 * z[:, 0] - 0.01 * z[:, 3]
    ridge = ResidualRidge(alpha=1e-4).fit(pred, target, features)
    assert ridge.correction(features).shape == (40,)
    assert torch.allclose(pred + ridge.correction(features), target, atol=1e-4)
    assert float(ridge.offset_) == pytest.approx(0.05, abs=1e-6)  # z has mean 0
    new, _ = _students(7, seed=1)  # unseen students get the same function
    znew = (new - features.mean(0)) / features.std(0, unbiased=False)
    expected = 0.05 + 0.02 * znew[:, 0] - 0.01 * znew[:, 3]
    assert torch.allclose(ridge.correction(new), expected, atol=1e-4)


def test_a_candidate_correction_does_not_depend_on_the_others():
    features, pred = _students(10)
    ridge = ResidualRidge(alpha=1.0).fit(pred, pred + 0.1 * features[:, 1], features)
    many, _ = _students(9, seed=2)
    whole = ridge.correction(many)
    parts = torch.cat([ridge.correction(many[:4]), ridge.correction(many[4:])])
    assert torch.equal(whole, parts)


def test_few_students_only_move_the_level():
    features, pred = _students(2)
    target = pred + torch.tensor([0.1, 0.3])
    ridge = ResidualRidge(alpha=1.0).fit(pred, target, features)
    others, _ = _students(5, seed=3)
    assert torch.allclose(ridge.correction(others), torch.full((5,), 0.2), atol=1e-6)
    # a larger penalty shrinks the slope towards the level
    features, pred = _students(12)
    target = pred + 0.05 * features[:, 2]
    spread = [
        float(ResidualRidge(alpha=a).fit(pred, target, features).correction(features).std())
        for a in (0.1, 10.0, 1000.0)
    ]
    assert spread[0] > spread[1] > spread[2]


def test_constant_features_and_bad_input():
    features, pred = _students(6)
    features[:, 4] = 2.0  # a feature that does not vary among the measured students
    ridge = ResidualRidge(alpha=1.0).fit(pred, pred + 0.1, features)
    assert torch.isfinite(ridge.correction(features)).all()
    with pytest.raises(ValueError, match="alpha"):
        ResidualRidge(alpha=0.0)
    with pytest.raises(ValueError, match="min_shots"):
        ResidualRidge(alpha=1.0, min_shots=1)
    with pytest.raises(ValueError, match="must describe the same students"):
        ResidualRidge(alpha=1.0).fit(pred, pred[:3], features)
    assert str(ResidualRidge(alpha=2.0)) == "ResidualRidge(alpha=2.0, min_shots=3)"


def test_several_penalties_are_chosen_by_leave_one_out():
    alphas = (0.1, 1.0, 10.0)
    features, pred = _students(12)
    z = (features - features.mean(0)) / features.std(0, unbiased=False)
    structured = pred + 0.03 * z[:, 2]  # residuals that follow a feature: a slope is chosen
    ridge = ResidualRidge(alpha=alphas).fit(pred, structured, features)
    assert ridge.alpha_ in alphas and ridge.alpha == alphas
    err = (pred + ridge.correction(features) - structured).abs().max()
    assert float(err) < 0.01
    # residuals that are noise independent of the features: mostly no slope at all
    chosen = []
    for seed in range(10):
        g = torch.Generator().manual_seed(100 + seed)
        noisy = pred + 0.01 * torch.randn(12, generator=g)
        chosen.append(ResidualRidge(alpha=alphas).fit(pred, noisy, features).alpha_)
    assert chosen.count(None) >= 6, chosen
    without = ResidualRidge(alpha=alphas).fit(pred, pred + 0.02, features)
    assert without.alpha_ is None  # a constant residual: only the level moves
    assert torch.allclose(without.correction(features), torch.full((12,), 0.02, dtype=torch.float))
    with pytest.raises(ValueError, match="non-empty list"):
        ResidualRidge(alpha=[])


def test_the_config_builds_the_residual_ridge():
    from dassgnn.predictor import PredictorConfig
    from dassgnn.predictor.residual import residual_ridge

    assert residual_ridge(PredictorConfig()) is None
    assert residual_ridge(PredictorConfig(residual_alpha=2.0)).alpha == 2.0
    config = PredictorConfig(residual_alpha=2.0, residual_alphas=[1.0, 10.0])
    assert residual_ridge(config).alpha == (1.0, 10.0)
    assert PredictorConfig.from_dict(config.to_dict()) == config
    with pytest.raises(TypeError, match="residual_alphas must be a list"):
        PredictorConfig(residual_alphas=1.0)
    with pytest.raises(ValueError, match="residual_alphas"):
        PredictorConfig(residual_alphas=[0.0])
