import math

import pytest
import torch

from dassgnn.kd import (
    Recipe,
    TeacherCache,
    TrainingDivergedError,
    distill,
    init_student,
    train,
    train_scratch,
)
from dassgnn.space import Arch

FAST = Recipe(epochs=3, lr=0.02, crop_padding=1, eval_every=1)
STUDENT = Arch((1, 1), ((12,), (10,)))


def test_teacher_learns(digits16, digits_teacher):
    _, result = digits_teacher
    assert result.test_acc > 0.9  # 5 classes: chance is 0.2
    assert len(result.train_loss) == 10 and result.train_loss[-1] < result.train_loss[0] / 2
    assert result.test_curve == [(10, result.test_acc)]  # eval_every=0: only the last epoch
    assert len(result.per_class_acc) == 5 and result.wall_time > 0
    assert result.steps == 10 * math.ceil(len(digits16.train) / 128)


def test_distill_is_reproducible_and_above_chance(digits16, small_space, digits_teacher):
    teacher, _ = digits_teacher
    _, a = distill(small_space, STUDENT, digits16, teacher, FAST, seed=3)
    _, b = distill(small_space, STUDENT, digits16, teacher, FAST, seed=3)
    assert a.test_acc == b.test_acc and a.train_loss == b.train_loss
    assert a.test_acc > 0.5
    assert [e for e, _ in a.test_curve] == [1, 2, 3]
    assert a.best_test_acc == max(acc for _, acc in a.test_curve)
    _, c = distill(small_space, STUDENT, digits16, teacher, FAST, seed=4)
    assert c.train_loss != a.train_loss


def test_teacher_cache_gives_identical_runs(digits16, small_space, digits_teacher):
    teacher, _ = digits_teacher
    cache = TeacherCache(teacher)
    _, plain = distill(small_space, STUDENT, digits16, teacher, FAST, seed=1)
    _, first = distill(small_space, STUDENT, digits16, cache, FAST, seed=1)
    assert cache.misses == first.steps and cache.hits == 0
    other = Arch((2, 1), ((8, 8), (16,)))
    distill(small_space, other, digits16, cache, FAST, seed=1)
    assert cache.hits == first.steps
    assert first.test_acc == plain.test_acc and first.train_loss == plain.train_loss
    with pytest.raises(ValueError, match="differs from the cached one"):
        distill(small_space, STUDENT, digits16, cache, FAST, seed=2)


def test_scratch_and_random_init(digits16, small_space, digits_teacher):
    teacher, _ = digits_teacher
    _, scratch = train_scratch(small_space, STUDENT, digits16, FAST, seed=0)
    assert 0.2 < scratch.test_acc <= 1.0
    remapped = init_student(small_space, STUDENT, digits16, teacher, "copy_first")
    random = init_student(small_space, STUDENT, digits16, teacher, "random", seed=0)
    assert torch.equal(remapped.stem.conv.weight, teacher.stem.conv.weight[:6])
    assert not torch.equal(random.stem.conv.weight, remapped.stem.conv.weight)
    with pytest.raises(ValueError, match="unknown init 'pca'; valid: random, copy_first"):
        init_student(small_space, STUDENT, digits16, teacher, "pca")
    with pytest.raises(ValueError, match="no teacher was given"):
        init_student(small_space, STUDENT, digits16, None, "copy_first")


def test_divergence_stops_with_clear_error(digits16, small_space):
    model = small_space.build(small_space.teacher, 5, 1, seed=0)
    recipe = Recipe(epochs=2, lr=1e6, momentum=0.9)
    with pytest.raises(TrainingDivergedError, match=r"loss diverged to .* at epoch 1"):
        train(model, digits16.train, digits16.test, recipe)


def test_bad_inputs(digits16, small_space):
    model = small_space.build(small_space.teacher, 3, 1)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        train(model, digits16.train, digits16.test, FAST)
    x, y = digits16.train.tensors()
    with pytest.raises(TypeError, match="uint8 tensor"):
        train(model, (x.float(), y), digits16.test, FAST)
    with pytest.raises(TypeError, match="ImageDataset or an \\(images, labels\\) pair"):
        train(model, x, digits16.test, FAST)
    with pytest.raises(ValueError, match="one label per image"):
        train(model, (x, y[:-1]), digits16.test, FAST)
    with pytest.raises(TypeError, match="DatasetSplits"):
        train_scratch(small_space, STUDENT, (x, y), FAST)


def test_shape_probe_does_not_touch_bn_statistics(digits16, small_space):
    model = small_space.build(small_space.teacher, 5, 1, seed=0)
    calls = []
    model.register_forward_pre_hook(lambda m, args: calls.append((m.training, len(args[0]))))
    train(model, digits16.train, digits16.test, Recipe(epochs=1, lr=0.01))
    assert calls[0] == (False, 2)  # the probe runs in eval mode
    assert all(n > 2 for training, n in calls if training)


def test_min_steps_adds_epochs_on_small_sets(digits16, small_space):
    model = small_space.build(small_space.teacher, 5, 1, seed=0)
    steps_per_epoch = math.ceil(len(digits16.train) / 32)
    recipe = Recipe(epochs=1, min_steps=3 * steps_per_epoch - 1, batch_size=32, eval_every=0)
    assert recipe.epochs_for(steps_per_epoch) == 3
    result = train(model, digits16.train, digits16.test, recipe)
    assert result.steps == 3 * steps_per_epoch and len(result.train_loss) == 3
    assert Recipe(epochs=5, min_steps=10).epochs_for(100) == 5
