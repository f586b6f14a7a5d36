import itertools
import json
import sys

import numpy as np
import pytest
import torch

from dassgnn.kd import Recipe, distill
from dassgnn.ranking import RankingMethod, Teacher
from dassgnn.search import Candidate, pareto_front, search
from dassgnn.space import TorchvisionResNetSpace

from ..conftest import write_npz

SMALL_TV = {"widths": (8, 16), "depths": (2, 2), "strides": (1, 2), "stem_width": 8}


class Widths(RankingMethod):
    """A deterministic, training-free score: the mean width step, minus a depth penalty."""

    def __init__(self) -> None:
        pass

    def _score(self, task, teacher, archs, measured):
        return np.array([np.mean([w for ws in a.widths for w in ws]) - a.num_blocks for a in archs])


@pytest.fixture(scope="module")
def teacher(digits_teacher):
    return digits_teacher[0]


def test_a_pool_search_ranks_within_the_budget(teacher, digits16, small_space):
    budget = small_space.params(small_space.teacher, 5, 1) // 3
    result = search(teacher, digits16, max_params=budget, method="params", pool_size=300, top_k=5)
    assert result.evaluated == 300 and 5 <= result.feasible < 300 and len(result) == 5
    assert result.space == small_space and result.score_name == "params score"
    scores = [c.score for c in result]
    assert scores == sorted(scores, reverse=True) and all(c.params <= budget for c in result)
    for c in result:
        assert c.params == small_space.params(c.arch, 5, 1)
        assert c.flops == small_space.flops(c.arch, 5, 1, 16)
    again = search(teacher, digits16, max_params=budget, method="params", pool_size=300, top_k=5)
    assert [c.arch for c in again] == [c.arch for c in result]
    other = search(teacher, digits16, max_params=budget, method="params", pool_size=30, seed=1)
    assert [c.arch for c in other] != [c.arch for c in result]
    data = json.loads(result.to_json())
    assert len(data["candidates"]) == 5 and data["budget"]["max_params"] == budget


def test_the_pareto_front(teacher, digits16):
    result = search(teacher, digits16, method=Widths(), pool_size=200, pareto=True, cost="flops")
    front = result.pareto
    assert front and [c.flops for c in front] == sorted(c.flops for c in front)
    assert all(a.score < b.score for a, b in itertools.pairwise(front))
    # nothing in the ranking beats a member of the front on both counts
    for c in result.candidates:
        assert not any(c.score > f.score and c.flops < f.flops for f in front)
    arch = result[0].arch
    made = [
        Candidate(arch, score, 1, flops)
        for score, flops in [(0.5, 10), (0.6, 20), (0.55, 30), (0.6, 20), (0.4, 5), (np.nan, 1)]
    ]
    assert [(c.score, c.flops) for c in pareto_front(made)] == [(0.4, 5), (0.5, 10), (0.6, 20)]


def test_evolution_uses_nsga2_and_reaches_the_budget(teacher, digits16, small_space):
    pytest.importorskip(
        "pymoo", reason="strategy evolution needs pymoo: pip install dassgnn[search]"
    )
    budget = int(0.3 * small_space.params(small_space.teacher, 5, 1))
    kwargs = dict(max_params=budget, method="params", strategy="evolution", population=20)
    result = search(teacher, digits16, generations=15, top_k=3, **kwargs)
    assert result.strategy == "evolution" and result.evaluated > 20
    assert all(c.params <= budget for c in result)
    assert result[0].params >= 0.99 * budget  # pushed to the constraint's edge
    again = search(teacher, digits16, generations=15, top_k=3, **kwargs)
    assert [c.arch for c in again] == [c.arch for c in result]


def test_evolution_without_pymoo_names_the_extra(teacher, digits16, monkeypatch):
    monkeypatch.setitem(sys.modules, "pymoo.algorithms.moo.nsga2", None)
    with pytest.raises(ImportError, match=r"pip install 'dassgnn\[search\]'"):
        search(teacher, digits16, method="params", strategy="evolution", population=8)


def test_build_gives_the_remapped_student_ready_for_kd(teacher, digits16, small_space):
    result = search(teacher, digits16, max_params=4000, method="params", pool_size=50, top_k=2)
    student = result.build(0)
    assert sum(p.numel() for p in student.parameters()) == result[0].params
    c = result.space.channels(result[0].arch)[0][0]
    assert torch.equal(student.stem_conv.weight, teacher.stem_conv.weight[:c])
    assert result.build(result[1]) is not student
    with pytest.raises(IndexError, match="out of range for 2 candidates"):
        result.build(5)
    _model, run = distill(result.space, result[0].arch, digits16, result.teacher, Recipe(epochs=1))
    assert 0 <= run.test_acc <= 1


def test_latency_budget(teacher, digits16):
    result = search(teacher, digits16, method="params", pool_size=20, top_k=2, max_latency_ms=1e6)
    assert all(c.latency_ms is not None and c.latency_ms > 0 for c in result)
    with pytest.raises(
        ValueError, match=r"no candidate meets max_latency_ms=1e-09.*smallest student"
    ):
        search(teacher, digits16, method="params", pool_size=5, max_latency_ms=1e-9)


def test_bad_input(teacher, digits16, tmp_path):
    with pytest.raises(
        ValueError,
        match=r"no student meets the budget max_params=10: the smallest "
        r"student of the space, 1,1\|8\|8, has 1,\d{3} parameters",
    ):
        search(teacher, digits16, max_params=10, method="params")
    with pytest.raises(ValueError, match="'digits' has 10 classes but the teacher's head has 5"):
        search(teacher, "digits", method="params", image_size=16)
    (tmp_path / "notes").mkdir()
    with pytest.raises(ValueError, match="neither layout: it is empty"):
        search(teacher, str(tmp_path / "notes"), method="params")
    with pytest.raises(ValueError, match="strategy must be one of"):
        search(teacher, digits16, method="params", strategy="random")
    with pytest.raises(ValueError, match="pool_size must be"):
        search(teacher, digits16, method="params", pool_size=0)


def test_a_torchvision_teacher_on_a_data_path(tmp_path):
    from dassgnn.data import load_dataset

    digits = load_dataset("digits")
    write_npz(tmp_path / "d.npz", digits)
    from ..space.tv_reference import resnet18

    tv = resnet18(num_classes=10, in_channels=1, width=8)
    result = search(tv, tmp_path / "d.npz", method=Widths(), pool_size=100, image_size=16, top_k=3)
    assert isinstance(result.space, TorchvisionResNetSpace) and result.space.widths == (
        8,
        16,
        32,
        64,
    )
    assert result.build(0).layer1[0].conv1.weight.shape[1] <= 8


@pytest.mark.shared_data
def test_the_dass_predictor_scores_a_torchvision_space_exactly(digits16):
    """The masked functional maps of the torchvision space (one pass of the teacher's layers)
    equal those of every student built with the teacher's weights remapped into it, so the
    predictor's inputs, and its scores, are those of the real students."""
    from dassgnn.encoders import NoiseSpec, functional_maps
    from dassgnn.predictor import DaSSRanker, PredictorConfig, task_keys
    from dassgnn.records import open_default_store
    from dassgnn.space.checks import _perturb_batchnorm

    space = TorchvisionResNetSpace(**SMALL_TV, stem_kernel=3, stem_stride=1, stem_pool=False)
    model = space.build(space.teacher, 5, 1, seed=0).eval()
    _perturb_batchnorm(model, 0)  # BatchNorm statistics that folding must get right
    archs = space.sample(20, seed=0)
    noise = NoiseSpec(seed=0, num=8, size=8)
    fast = functional_maps(space, model, archs, noise, batched=True)
    built = functional_maps(space, model, archs, noise, batched=False)
    assert fast.shape == (20, 8, 8) and torch.allclose(fast, built, atol=1e-5)
    config = PredictorConfig(
        hidden=16, per_class=2, steps=4, eval_every=2, meta_batch=2, query_size=6
    )
    with open_default_store() as store:
        keys = task_keys(store, "meta-train")
        ranker = DaSSRanker(config, val_tasks=[keys[1]], train_tasks=[keys[0]]).fit(store)
    scores = ranker.score(digits16, Teacher(model, space, 0.5), archs)
    assert np.isfinite(scores).all() and len(set(scores.round(6))) > 10  # not a constant
    result = search(model, digits16, method=ranker, pool_size=50, top_k=3, pareto=True)
    assert result.score_name == "predicted accuracy" and result.teacher_accuracy is not None
    assert np.isfinite([c.score for c in result]).all()


def test_choose_shots_spreads_over_the_cost_range(small_space):
    from dassgnn.search import choose_shots

    archs = small_space.sample(40, seed=2)
    params = [small_space.params(a, 5, 1) for a in archs]
    scores = -np.asarray(params, dtype=float)  # the method prefers small students
    chosen = choose_shots(archs, scores, params, 4)
    order = sorted(range(40), key=lambda i: (params[i], archs[i].id))
    bins = np.array_split(np.asarray(order), 4)
    assert chosen == [archs[int(b[0])] for b in bins]  # the best-scored of each bin
    assert choose_shots(archs, scores, params, 0) == []
    with pytest.raises(ValueError, match="shots=41 but only 40 candidates"):
        choose_shots(archs, scores, params, 41)


@pytest.mark.slow
def test_a_few_shot_search_trains_and_adapts_on_measured_students(
    teacher, digits16, small_space, monkeypatch
):
    import dassgnn.search.api as api

    quick = Recipe(epochs=1, min_steps=10, eval_every=0)  # the label recipe would take minutes
    monkeypatch.setattr(api, "label_recipe", lambda method: quick)
    budget = small_space.params(small_space.teacher, 5, 1) // 2
    zero = search(teacher, digits16, max_params=budget, method="ridge", pool_size=80, top_k=5)
    result = search(
        teacher, digits16, max_params=budget, method="ridge", pool_size=80, top_k=5, shots=4
    )
    assert zero.measured == [] and len(result.measured) == 4
    measured = {m.arch for m in result.measured}
    assert not measured & {c.arch for c in result.candidates}
    assert result.feasible == zero.feasible
    for m in result.measured:
        assert 0 <= m.accuracy <= 1 and m.seconds > 0 and m.params <= budget
        _, run = distill(small_space, m.arch, digits16, teacher, quick, seed=0)
        assert m.accuracy == pytest.approx(run.test_acc)  # the library's KD, seeded
    params = [m.params for m in result.measured]
    assert params == sorted(params) and params[-1] > 1.5 * params[0]  # spread over the cost
    # ridge fitted on the measured students ranks the rest by predicted accuracy
    assert all(abs(c.score) < 5 for c in result) and zero[0].score > 1000  # accuracy vs params
    assert "measured students (4, KD-trained in" in result.table()
    data = json.loads(result.to_json())
    assert [m["arch"] for m in data["measured"]] == [m.arch.id for m in result.measured]
    with pytest.raises(ValueError, match="shots=80 but only"):
        search(teacher, digits16, max_params=budget, method="ridge", pool_size=80, shots=80)


def test_shots_need_a_method_that_uses_measured_students(teacher, digits16):
    with pytest.raises(ValueError, match=r"shots=3, but the method 'params' does not use"):
        search(teacher, digits16, method="params", pool_size=50, shots=3)
