import pytest
import torch

from dassgnn.kd import Recipe, distill, train_batched, train_scratch
from dassgnn.space import Arch, ResNetSpace

ARCHS = [
    Arch((2, 2), ((16, 16), (16, 16))),  # the teacher itself
    Arch((1, 2), ((12,), (16, 10))),  # a skipped block, a narrowing block
    Arch((2, 1), ((8, 16), (8,))),  # a widening block
]


def test_one_step_matches_the_loop(small_space, digits16, digits_teacher):
    teacher, _ = digits_teacher
    recipe = Recipe(epochs=1, lr=0.02, crop_padding=1, batch_size=len(digits16.train))
    results = train_batched(small_space, ARCHS, digits16, recipe, teacher=teacher, seed=5)
    for arch, batched in zip(ARCHS, results, strict=True):
        _, loop = distill(small_space, arch, digits16, teacher, recipe, seed=5)
        assert batched.steps == loop.steps == 1
        assert batched.train_loss[0] == pytest.approx(loop.train_loss[0], rel=1e-4)
        assert batched.test_acc == pytest.approx(loop.test_acc, abs=0.02)


def test_training_agrees_with_the_loop(small_space, digits16, digits_teacher):
    teacher, _ = digits_teacher
    recipe = Recipe(epochs=3, lr=0.02, crop_padding=1)
    results = train_batched(small_space, ARCHS, digits16, recipe, teacher=teacher, seed=1)
    for arch, batched in zip(ARCHS, results, strict=True):
        _, loop = distill(small_space, arch, digits16, teacher, recipe, seed=1)
        assert len(batched.test_curve) == 3 and len(batched.per_class_acc) == 5
        assert abs(batched.test_acc - loop.test_acc) < 0.05
        assert batched.train_loss[-1] == pytest.approx(loop.train_loss[-1], rel=0.1)


def test_scratch_and_divergence(small_space, digits16):
    recipe = Recipe(epochs=2, lr=0.05, crop_padding=1)
    results = train_batched(small_space, ARCHS[:2], digits16, recipe, seed=0)
    _, loop = train_scratch(small_space, ARCHS[1], digits16, recipe, seed=0)
    assert all(0.2 < r.test_acc <= 1 for r in results)
    assert loop.test_acc > 0.2
    diverged = train_batched(small_space, ARCHS[:2], digits16, recipe.replace(lr=1e6), seed=0)
    assert all(isinstance(r, RuntimeError) and "diverged" in str(r) for r in diverged)
    with pytest.raises(ValueError, match="copy_first only"):
        train_batched(
            ResNetSpace(),
            ARCHS[:1],
            digits16,
            recipe.replace(init="uniform"),
            teacher=torch.nn.Identity(),
        )


def test_space_without_batched_networks(digits16):
    class Plain:
        pass

    with pytest.raises(TypeError, match="build_batched"):
        train_batched(Plain(), ARCHS[:1], digits16, Recipe(epochs=1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one student"):
        train_batched(ResNetSpace(), [], digits16, Recipe(epochs=1))
