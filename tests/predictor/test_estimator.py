import numpy as np
import pytest
import torch

from dassgnn.metrics import spearman
from dassgnn.predictor import CheckpointError, DaSSRanker, PredictorConfig, task_keys
from dassgnn.ranking import NotFittedError, Teacher, check_ranker
from dassgnn.records import open_default_store
from dassgnn.space import Arch, ResNetSpace

TINY = PredictorConfig(hidden=16, per_class=2, steps=4, eval_every=2, meta_batch=2, query_size=6)

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def fitted():
    with open_default_store() as store:
        keys = task_keys(store, "meta-train")
        ranker = DaSSRanker(TINY, val_tasks=[keys[1]], train_tasks=[keys[0], keys[2]])
        assert ranker.fit(store) is ranker
    return ranker


@pytest.fixture(scope="module")
def teacher(digits_teacher, small_space):
    model, result = digits_teacher
    return Teacher(model, small_space, result.test_acc)


def test_fit_holds_out_validation_tasks(fitted):
    assert len(fitted.train_tasks_) == 2 and len(fitted.val_tasks_) == 1
    assert not set(fitted.train_tasks_) & set(fitted.val_tasks_)
    assert fitted.log_.steps == [2, 4]
    assert repr(fitted).startswith("DaSSRanker(arch='gine', meta=True")


def test_conforms_to_the_ranking_interface(digits16, teacher):
    with open_default_store() as store:
        keys = task_keys(store, "meta-train")
        method = DaSSRanker(TINY, val_tasks=[keys[1]], train_tasks=[keys[0]])
        check_ranker(method, digits16, teacher, store)


def test_save_load_round_trip(fitted, digits16, teacher, small_space, tmp_path):
    archs = small_space.sample(5, seed=3)
    scores = fitted.score(digits16, teacher, archs)
    assert scores.shape == (5,) and np.isfinite(scores).all()
    path = fitted.save(tmp_path / "ckpt.pt")
    loaded = DaSSRanker.load(path)
    again = loaded.score(digits16, teacher, archs)  # weights stored in float16
    assert np.allclose(again, scores, atol=5e-3)
    assert (np.argsort(again) == np.argsort(scores)).mean() >= 0.6
    assert loaded.config_ == fitted.config_ and loaded.val_tasks_ == fitted.val_tasks_
    # the teacher's accuracy is measured on the task when unknown
    unknown = Teacher(teacher.model, small_space)
    assert loaded.predict(digits16, unknown, archs).shape == (5,)


def test_bad_checkpoints(tmp_path, fitted):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        DaSSRanker.load(tmp_path / "missing.pt")
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="is not a dassgnn predictor checkpoint"):
        DaSSRanker.load(text)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(CheckpointError, match="is not a dassgnn predictor checkpoint"):
        DaSSRanker.load(other)
    old = tmp_path / "old.pt"
    data = torch.load(fitted.save(tmp_path / "good.pt"), weights_only=True)
    torch.save({**data, "version": 0}, old)
    with pytest.raises(CheckpointError, match="format version 0"):
        DaSSRanker.load(old)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        DaSSRanker.load(empty)
    with pytest.raises(CheckpointError, match="is a directory"):
        DaSSRanker.load(tmp_path)
    foreign = tmp_path / "metad2a.pt"
    torch.save({**data, "method": "metad2a"}, foreign)
    with pytest.raises(CheckpointError, match="of the ranking method 'metad2a', not 'dass'"):
        DaSSRanker.load(foreign)


def test_bad_inputs(fitted, digits16, teacher, small_space):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        DaSSRanker(TINY).score(digits16, teacher, [small_space.teacher])
    with pytest.raises(ValueError, match="archs is empty"):
        fitted.score(digits16, teacher, [])
    with pytest.raises(ValueError, match="not a member"):
        fitted.score(digits16, teacher, [Arch((4, 1), ((8,) * 4, (8,)))])
    wrong = Teacher(
        ResNetSpace(widths=(8, 16), depths=(2, 2), strides=(1, 2)).build(
            small_space.teacher, 7, 1, seed=0
        ),
        small_space,
        0.5,
    )
    with pytest.raises(ValueError, match="the teacher's head has 7 classes but the dataset has 5"):
        fitted.score(digits16, wrong, [small_space.teacher])
    with open_default_store() as store, pytest.raises(ValueError, match="not meta-train tasks"):
        DaSSRanker(TINY, val_tasks=["nosuch"]).fit(store)


def test_measured_students_join_the_teacher_in_the_support_set(fitted, digits16, teacher):
    space = teacher.space
    archs = space.sample(14, seed=5)
    candidates, shots = archs[:8], archs[8:]
    zero = fitted.score(digits16, teacher, candidates)
    high = {a: 0.95 for a in shots}
    low = {a: 0.2 for a in shots}
    up = fitted.score(digits16, teacher, candidates, measured=high)
    down = fitted.score(digits16, teacher, candidates, measured=low)
    assert up.shape == down.shape == (8,)
    # the measured students change the predictions, the high ones to higher values than the
    # low ones (the level against the teacher-only adaptation is not promised: the support
    # loss's rank term also orders the students below their teacher)
    assert not np.allclose(up, zero) and not np.allclose(down, zero)
    assert up.mean() > down.mean() + 0.01
    again = fitted.score(digits16, teacher, candidates, measured=dict(reversed(high.items())))
    assert np.allclose(again, up, atol=1e-6)
    with pytest.raises(ValueError, match="is also a measured student"):
        fitted.score(digits16, teacher, candidates, measured={candidates[0]: 0.5})


def test_scores_do_not_depend_on_the_chunk_size(fitted, digits16, teacher, monkeypatch):
    import dassgnn.predictor.estimator as estimator

    archs = teacher.space.sample(11, seed=8)
    whole = fitted.score(digits16, teacher, archs)
    monkeypatch.setattr(estimator, "CHUNK", 4)
    assert np.allclose(fitted.score(digits16, teacher, archs), whole, atol=1e-5)


def test_the_residual_ridge_brings_predictions_to_the_measured_level(digits16, teacher):
    with open_default_store() as store:
        keys = task_keys(store, "meta-train")
        ranker = DaSSRanker(
            TINY.replace(residual_alpha=1.0), val_tasks=[keys[1]], train_tasks=[keys[0]]
        ).fit(store)
    archs = teacher.space.sample(14, seed=5)
    candidates, shots = archs[:8], archs[8:]
    for level in (0.3, 0.6, 0.95):
        scores = ranker.score(digits16, teacher, candidates, measured=dict.fromkeys(shots, level))
        assert abs(scores.mean() - level) < 0.05
    sizes = [teacher.space.params(a, 5, 1) for a in shots]
    order = np.argsort(np.argsort(sizes))
    params = [teacher.space.params(a, 5, 1) for a in candidates]
    for sign in (1, -1):  # students measured in (reverse) order of size
        measured = {a: 0.7 + sign * 0.04 * r for a, r in zip(shots, order, strict=True)}
        scores = ranker.score(digits16, teacher, candidates, measured=measured)
        assert sign * spearman(scores, params) > 0.5
