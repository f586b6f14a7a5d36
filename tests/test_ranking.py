import numpy as np
import pytest

from dassgnn.data import Task
from dassgnn.ranking import (
    NotFittedError,
    RankingMethod,
    Teacher,
    check_ranker,
    create_ranker,
    list_rankers,
    register_ranker,
)
from dassgnn.records import open_default_store
from dassgnn.space import Arch


@pytest.fixture(scope="module")
def teacher(digits_teacher, small_space):
    model, result = digits_teacher
    return Teacher(model, small_space, result.test_acc)


LIBRARY_SPACES = {
    "resnet": {"widths": (8, 16), "depths": (2, 2), "strides": (1, 2)},
    "tv_resnet": {"widths": (8, 16), "depths": (2, 2), "strides": (1, 2), "stem_width": 8},
}
"""A small member of each of the library's registered spaces."""


@pytest.fixture(scope="module", params=sorted(LIBRARY_SPACES))
def any_teacher(request, digits16):
    """A teacher of each registered space of the library, trained a little on the digits."""
    from dassgnn.kd import Recipe, train_teacher
    from dassgnn.space import create_space, list_spaces

    assert set(LIBRARY_SPACES) <= set(list_spaces())
    space = create_space(request.param, **LIBRARY_SPACES[request.param])
    model, result = train_teacher(space, digits16, Recipe(epochs=3, lr=0.1, eval_every=0), seed=0)
    return Teacher(model, space, result.test_acc)


def _small(name: str, records) -> dict:
    """Settings that keep each method to seconds."""
    if name in LEARNED:
        from dassgnn.predictor import task_keys

        mode = "scratch" if name == "metad2a" else "kd"
        keys = task_keys(records, "meta-train", mode)
        if len(keys) < 2:
            pytest.skip(f"the committed records have no meta-train {mode} runs for {name}")
        config = {"hidden": 16, "per_class": 2, "steps": 2, "eval_every": 1}  # on its defaults
        return {"config": config, "val_tasks": keys[1:2], "train_tasks": keys[:1]}
    if name in ("synflow", "snip", "grad_norm", "naswot", "diswot"):
        return {"batch_size": 16}
    return {}


LEARNED = {"dass", "dass_pooled", "metad2a"}
NEEDS_SHARED_DATA = LEARNED  # they fit on meta-train tasks of the shared datasets


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.shared_data) if n in NEEDS_SHARED_DATA else n
        for n in list_rankers()
    ],
)
def test_every_registered_method_conforms(name, digits16, any_teacher):
    with open_default_store() as records:
        scores = check_ranker(
            create_ranker(name, **_small(name, records)), digits16, any_teacher, records
        )
    assert scores.shape == (6,)


def test_size_baselines(digits16, teacher, small_space):
    archs = small_space.sample(5, seed=1)
    params = create_ranker("params").score(digits16, teacher, archs)
    flops = create_ranker("flops").score(digits16, teacher, archs)
    assert params.tolist() == [small_space.params(a, 5, 1) for a in archs]
    assert flops.tolist() == [small_space.flops(a, 5, 1, (16, 16)) for a in archs]
    task = Task("digits", classes=(0, 1, 2, 3, 4), image_size=16, channels=1)
    assert np.array_equal(create_ranker("flops").score(task, teacher, archs), flops)
    assert str(create_ranker("params")) == "ParamsRanker()"


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(KeyError, match=r"valid names: .*flops.*params"):
        create_ranker("nosuch")


def test_bad_inputs(digits16, teacher, small_space):
    ranker = create_ranker("params")
    with pytest.raises(ValueError, match="archs is empty"):
        ranker.score(digits16, teacher, [])
    with pytest.raises(ValueError, match=r"archs\[1\] is not a member .*depth 3 > maximum 2"):
        ranker.score(digits16, teacher, [small_space.teacher, Arch((3, 1), ((8,) * 3, (8,)))])
    with pytest.raises(TypeError, match="archs must be a sequence of Arch"):
        ranker.score(digits16, teacher, "2,2|16,16|16,16")
    with pytest.raises(TypeError, match=r"teacher must be a dassgnn\.ranking\.Teacher"):
        ranker.score(digits16, teacher.model, [small_space.teacher])
    with pytest.raises(TypeError, match="task must be a Task or DatasetSplits"):
        ranker.score("digits", teacher, [small_space.teacher])
    with pytest.raises(ValueError, match="accuracy must be a finite number in"):
        Teacher(teacher.model, small_space, 1.5)


class _Mean(RankingMethod):
    """A toy learned method: scores every arch with the mean KD accuracy it was fitted on."""

    needs_fit = True

    def __init__(self, shift: float = 0.0) -> None:
        self.shift = shift

    def _fit(self, records):
        self.mean_ = float(np.mean([r.test_acc for r in records.runs(mode="kd")]))

    def _score(self, task, teacher, archs, measured):
        return np.full(len(archs), self.mean_ + self.shift)


def test_learned_methods_refuse_to_score_before_fit(digits16, teacher, small_space):
    register_ranker("toy_mean")(_Mean)
    try:
        method = create_ranker("toy_mean", shift=0.5)
        assert repr(method) == "_Mean(shift=0.5)" and not method.is_fitted
        with pytest.raises(NotFittedError, match="not fitted yet"):
            method.score(digits16, teacher, [small_space.teacher])
        with pytest.raises(ValueError, match="fit\\(records\\) needs a RecordStore"):
            method.fit(None)
        with open_default_store() as records:
            check_ranker(create_ranker("toy_mean"), digits16, teacher, records)
    finally:
        from dassgnn.ranking import RANKERS

        RANKERS._entries.pop("toy_mean")


def test_measured_students_are_checked(digits16, teacher, small_space):
    ranker = create_ranker("params")
    archs = small_space.sample(6, seed=0)
    candidates, shots = archs[:4], archs[4:]
    plain = ranker.score(digits16, teacher, candidates)
    same = ranker.score(digits16, teacher, candidates, measured={shots[0]: 0.8, shots[1]: 0.7})
    assert np.array_equal(plain, same)  # params ignores them
    cases = [
        ({shots[0]: 1.5}, ValueError, r"must be in \[0, 1\] \(a fraction, not a percentage\)"),
        ({shots[0]: float("nan")}, ValueError, r"must be in \[0, 1\]"),
        ({shots[0]: "0.8"}, TypeError, "must be a number in"),
        ({shots[0]: True}, TypeError, "must be a number in"),
        ({"2,2|16,16|16,16": 0.8}, TypeError, "is not a member"),
        ({Arch((3, 1), ((8,) * 3, (8,))): 0.5}, ValueError, r"not a member .*depth 3 > maximum 2"),
        ({candidates[2]: 0.5}, ValueError, r"archs\[2\] \(.*\) is also a measured student"),
        ([(shots[0], 0.5)], TypeError, "measured must map Arch"),
    ]
    for measured, error, match in cases:
        with pytest.raises(error, match=match):
            ranker.score(digits16, teacher, candidates, measured=measured)


def test_ridge_fits_the_measured_students_and_falls_back_to_params(digits16, teacher, small_space):
    ridge = create_ranker("ridge")
    assert ridge.uses_measured and repr(ridge) == "RidgeRanker(alpha=1.0)"
    archs = small_space.sample(20, seed=3)
    candidates, shots = archs[:12], archs[12:]
    params = create_ranker("params").score(digits16, teacher, candidates)
    assert np.array_equal(ridge.score(digits16, teacher, candidates), params)
    one = ridge.score(digits16, teacher, candidates, measured={shots[0]: 0.9})
    assert np.array_equal(one, params)
    # accuracies that fall with depth of the last stage: ridge learns it from 8 students
    depth = {a: a.depths[-1] for a in archs}
    measured = {a: 0.9 - 0.1 * depth[a] for a in shots}
    scores = ridge.score(digits16, teacher, candidates, measured=measured)
    deeper = [s for a, s in zip(candidates, scores, strict=True) if depth[a] == 2]
    shallower = [s for a, s in zip(candidates, scores, strict=True) if depth[a] == 1]
    assert deeper and shallower and max(deeper) < min(shallower)
    assert np.all((scores > 0.5) & (scores < 0.9))  # on the accuracy scale
    with pytest.raises(ValueError, match="alpha must be"):
        create_ranker("ridge", alpha=-1.0).score(digits16, teacher, candidates, measured=measured)
