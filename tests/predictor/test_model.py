import dataclasses
import math

import numpy as np
import pytest
import torch

from dassgnn.metrics import spearman, support_draws
from dassgnn.predictor import (
    BRANCHES,
    DEFAULT_BRANCHES,
    STUDENT_FIELDS,
    DaSSPredictor,
    Episode,
    MetaSGD,
    PredictorConfig,
    evaluate,
    meta_train,
    pairwise_rank_loss,
    prepare_context,
    prepare_students,
    support_loss,
    support_set,
    support_weights,
    teacher_row,
)
from dassgnn.space.checks import _perturb_batchnorm

TINY = PredictorConfig(
    hidden=16, per_class=3, steps=150, eval_every=50, meta_batch=2, query_size=8, lr=3e-3
)


def _labels(small_space, archs):
    """A known function of size: a predictor can learn this ranking."""
    params = torch.tensor([small_space.params(a, 5, 1) for a in archs], dtype=torch.float)
    logp = params.log()
    return 0.5 + 0.3 * (logp - logp.min()) / (logp.max() - logp.min())


@pytest.fixture(scope="module")
def episodes(digits16, small_space, digits_teacher):
    """Two synthetic 'tasks' on the digits: the same teacher, 12 students labelled by
    their size; a second 'seed' of labels is the first plus a little noise."""
    teacher, result = digits_teacher
    out = []
    for seed in (0, 1):
        archs = small_space.sample(12, seed=seed)
        targets = _labels(small_space, archs)
        noisy = targets + 0.01 * torch.randn(len(archs), generator=torch.Generator().manual_seed(1))
        context = prepare_context(TINY, small_space, teacher, digits16, result.test_acc)
        students = prepare_students(TINY, small_space, teacher, digits16, archs, targets=targets)
        runs = torch.stack([targets, noisy], dim=1)
        out.append(Episode(context, students, teacher_row(small_space, context, TINY), runs))
    return out


def test_context_and_students(episodes, small_space):
    ep = episodes[0]
    assert ep.context.teacher_gram.shape == (8, 8) and ep.context.num_classes == 5
    assert ep.context.image_features.shape == (15, 64)
    assert ep.context.image_labels.tolist() == sorted(ep.context.image_labels.tolist())
    s = ep.students
    assert len(s) == 12 and s.cost.shape == (12, 2) and s.simple.shape == (12, 8)
    assert s.grams.shape == (12, 8, 8) and s.flat.shape[0] == 12
    assert torch.equal(s.cost, s.simple[:, :2])  # log params and FLOPs over the teacher's
    sub = s.subset([2, 5])
    for name in STUDENT_FIELDS:  # every per-student field follows the subset
        value = getattr(sub, name)
        assert len(value) == 2, name
    assert sub.archs == [s.archs[2], s.archs[5]]
    joined = sub.join(s.subset([7]))
    assert joined.archs == [s.archs[2], s.archs[5], s.archs[7]]
    assert torch.equal(joined.targets, s.targets[[2, 5, 7]])
    with pytest.raises(ValueError, match="both inputs must carry targets"):
        sub.join(dataclasses.replace(s.subset([7]), targets=None))


def test_the_teacher_row_and_the_support_set(episodes, small_space):
    ep = episodes[0]
    row = ep.teacher
    assert row.archs == [small_space.teacher] and float(row.cost.abs().sum()) == 0
    assert row.simple.tolist() == [[0, 0, 1, 1, 1, 1, 1, 1]]
    assert row.targets.tolist() == pytest.approx([ep.context.teacher_acc])
    assert support_set(row) is row
    shots = ep.students.subset([0, 3])
    support = support_set(row, shots)
    assert support.archs == [small_space.teacher, *shots.archs]
    assert support.targets.tolist() == pytest.approx(row.targets.tolist() + shots.targets.tolist())
    with pytest.raises(ValueError, match="need their accuracies"):
        support_set(row, dataclasses.replace(shots, targets=None))


def test_shot_accuracies_carry_one_seed(episodes):
    ep = episodes[0]
    picked = np.array([1, 4])
    assert torch.equal(ep.shot_accuracies(picked), ep.runs[picked, 0])
    assert torch.equal(ep.shot_accuracies(picked, seed_column=1), ep.runs[picked, 1])
    drawn = ep.shot_accuracies(picked, seed_column=None, rng=np.random.default_rng(0))
    assert all(float(d) in ep.runs[i].tolist() for d, i in zip(drawn, picked, strict=True))


def test_default_branches_leave_out_the_size_prior(small_space):
    assert TINY.branches == DEFAULT_BRANCHES == BRANCHES[:-1]
    model = DaSSPredictor(TINY, small_space.graph_schema)
    assert str(model) == f"DaSSPredictor(arch='gine', hidden=16, branches={list(DEFAULT_BRANCHES)})"
    assert not any(n.startswith("prior.") for n in model.adapted_parameters())


def test_support_weights_keep_the_teacher():
    assert support_weights(1, 3.0).tolist() == [1.0]
    for k in (1, 5, 20):
        w = support_weights(k + 1, 2.0)
        assert float(w[0]) == 2.0 and float(w[1:].sum()) == pytest.approx(1.0)


@pytest.mark.parametrize("arch_encoder", ["gine", "flat"])
def test_predictor_shapes_and_branches(
    episodes, small_space, arch_encoder, digits16, digits_teacher
):
    config = TINY.replace(arch_encoder=arch_encoder, branches=BRANCHES)
    model = DaSSPredictor(config, small_space.graph_schema)
    assert (
        str(model) == f"DaSSPredictor(arch={arch_encoder!r}, hidden=16, branches={list(BRANCHES)})"
    )
    ep = episodes[0]
    if arch_encoder == "flat":  # the choice vectors are built for the flat encoder only
        assert ep.students.flat.shape == (12, 0)
        students = prepare_students(
            config, small_space, digits_teacher[0], digits16, ep.students.archs
        )
        assert students.flat.shape[0] == 12 and students.flat.shape[1] > 0
        ep = dataclasses.replace(ep, students=students)
    out = model(ep.context, ep.students)
    assert out.shape == (12,) and torch.isfinite(out).all()
    assert set(model.adapted_parameters()) == {
        *(f"head.{n}" for n, _ in model.head.named_parameters()),
        "prior.weight",
        "prior.bias",
    }
    for branch in BRANCHES:
        rest = tuple(b for b in BRANCHES if b != branch)
        ablated = DaSSPredictor(config.replace(branches=rest), small_space.graph_schema)
        assert ablated(ep.context, ep.students).shape == (12,)
    no_prior = DaSSPredictor(config.replace(branches=BRANCHES[:-1]), small_space.graph_schema)
    assert not any(n.startswith("prior.") for n in no_prior.adapted_parameters())


def test_the_size_prior_adds_a_linear_term(episodes, small_space):
    model = DaSSPredictor(TINY.replace(branches=BRANCHES), small_space.graph_schema).eval()
    ep = episodes[0]
    with torch.no_grad():
        before = model(ep.context, ep.students)
        model.prior.weight[0, 0] = 0.1  # log params
        after = model(ep.context, ep.students)
    assert torch.allclose(after - before, 0.1 * ep.students.simple[:, 0], atol=1e-6)


def test_metasgd_adapts_on_the_teacher_and_measured_students(episodes, small_space):
    model = DaSSPredictor(TINY, small_space.graph_schema)
    metasgd = MetaSGD(model)
    assert set(metasgd.log_lr) == {n.replace(".", "__") for n in model.adapted_parameters()}
    ep = episodes[0]
    task = model.embed_task(ep.context)
    support = support_set(ep.teacher, ep.students.subset([0, 1, 2, 3]))
    emb = model.embed_students(ep.context, support)
    before = support_loss(model.fuse(task, emb, support.simple), support.targets, TINY)
    params = metasgd.adapt(model, task, emb, support.simple, support.targets, steps=3)
    after = support_loss(model.fuse(task, emb, support.simple, params), support.targets, TINY)
    assert float(after.detach()) < float(before.detach()) / 2
    # the adapted parameters are a function of the learned step sizes: meta-gradients reach them
    params = metasgd.adapt(model, task, emb, support.simple, support.targets, create_graph=True)
    out = model.fuse(
        task, model.embed_students(ep.context, ep.students), ep.students.simple, params
    )
    out.sum().backward()
    assert all(p.grad is not None for p in metasgd.parameters())


@pytest.mark.parametrize("meta", [True, False])
def test_meta_training_learns_a_ranking_and_keeps_the_best_state(episodes, small_space, meta):
    config = TINY.replace(meta=meta, val_shots=(0, 3), val_draws=2)
    model = DaSSPredictor(config, small_space.graph_schema)
    untrained = evaluate(model, None, episodes[1:], adapt=False)[0][0]
    metasgd, log = meta_train(model, episodes[:1], episodes[1:])
    assert (metasgd is not None) == meta
    assert log.steps == [50, 100, 150] and len(log.val_rho) == 3
    assert log.best_val_rho == max(log.val_rho)
    shots = (0, 3) if meta else (0,)
    assert all(set(by_k) == {str(k) for k in shots} for by_k in log.val_rho_by_k)
    rhos = evaluate(model, metasgd, episodes[1:], shots=shots, draws=2, adapt=meta)
    assert np.mean([rhos[k][0] for k in shots]) == pytest.approx(log.best_val_rho)
    assert rhos[0][0] > 0.85 and (math.isnan(untrained) or rhos[0][0] > untrained + 0.1)


def test_evaluation_scores_only_the_students_outside_the_support_set(episodes, small_space):
    model = DaSSPredictor(TINY, small_space.graph_schema).eval()
    ep = episodes[0]
    rhos = evaluate(model, None, [ep], shots=(0, 9), draws=3, adapt=False, seed=4)
    with torch.no_grad():
        pred = model(ep.context, ep.students).numpy()
    truth = ep.students.targets.numpy()
    by_hand = [spearman(pred[rest], truth[rest]) for _, rest in support_draws(12, 9, 3, [4, 0, 9])]
    assert rhos[9] == [pytest.approx(np.mean(by_hand))]
    assert rhos[0] == [pytest.approx(spearman(pred, truth))]


def test_pairwise_rank_loss():
    target = torch.tensor([0.5, 0.6, 0.7])
    good = pairwise_rank_loss(torch.tensor([0.1, 0.2, 0.3]), target)
    bad = pairwise_rank_loss(torch.tensor([0.3, 0.2, 0.1]), target)
    assert float(good) < float(bad)
    assert float(pairwise_rank_loss(torch.ones(3), torch.ones(3))) == 0.0


def test_soft_bound_keeps_the_order_inside_zero_and_one():
    from scipy.stats import spearmanr

    from dassgnn.predictor.model import soft_bound

    y = np.array([-50.0, -0.3, 0.0, 0.04, 0.05, 0.5, 0.95, 0.97, 1.006, 1.2, 3.0, 50.0])
    b = soft_bound(y)
    assert b.shape == y.shape
    assert np.all((b > 0) & (b < 1))
    assert np.all(np.diff(b) > 0)  # strictly increasing
    assert spearmanr(b, y).statistic == 1.0
    middle = (y >= 0.05) & (y <= 0.95)
    np.testing.assert_allclose(b[middle], y[middle])
    assert 0.96 < b[7] < 0.97 and 0.97 < b[8] < 0.98  # slope 1 at the joint, then flatter
    edge = soft_bound(np.array([np.nan, np.inf, -np.inf]))
    assert np.isnan(edge[0]) and edge[1] == 1.0 and edge[2] == 0.0
    eps = 1e-6  # continuous at the joints
    assert abs(soft_bound(np.array([0.95 + eps]))[0] - 0.95) < 2 * eps
    assert abs(soft_bound(np.array([0.05 - eps]))[0] - 0.05) < 2 * eps


def test_dropped_node_features_do_not_reach_the_gnn(episodes, small_space):
    stages = tuple(f"stage={s}" for s in range(6))
    config = TINY.replace(drop_node_features=stages)
    assert PredictorConfig.from_dict(config.to_dict()) == config
    model = DaSSPredictor(config, small_space.graph_schema).eval()
    ep = episodes[0]
    columns = [small_space.graph_schema.node_features.index(n) for n in stages]

    def changed(column_values):
        graphs = [g.clone() for g in ep.students.graphs]
        for g in graphs:
            for column, value in column_values:
                g.x[:, column] = value
        return dataclasses.replace(ep.students, graphs=graphs, batch=None)

    with torch.no_grad():
        before = model(ep.context, ep.students)
        assert torch.allclose(model(ep.context, changed([(c, 7.0) for c in columns])), before)
        assert not torch.allclose(model(ep.context, changed([(0, 1.0)])), before)
    with pytest.raises(ValueError, match=r"drop_node_features \['stage=9'\] are not node"):
        DaSSPredictor(TINY.replace(drop_node_features=("stage=9",)), small_space.graph_schema)
    with pytest.raises(TypeError, match="drop_node_features must be a list"):
        PredictorConfig(drop_node_features="stage=0")


def test_config_validation_and_round_trip():
    config = TINY.replace(branches=("student", "arch"), shots=(0, 5))
    assert config.branches == ("arch", "student")  # canonical order
    assert PredictorConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="arch_encoder must be one of"):
        PredictorConfig(arch_encoder="gcn")
    with pytest.raises(ValueError, match="branches must be one of"):
        PredictorConfig(branches=("arch", "size"))
    with pytest.raises(ValueError, match="unknown predictor settings"):
        PredictorConfig.from_dict({"hiden": 3})
    with pytest.raises(TypeError, match="meta must be true or false"):
        PredictorConfig(meta=1)
    with pytest.raises(ValueError, match="shots must hold"):
        PredictorConfig(shots=(0, -3))
    with pytest.raises(ValueError, match="teacher_weight"):
        PredictorConfig(teacher_weight=-1.0)
    with pytest.raises(ValueError, match="inner_lr"):
        PredictorConfig(inner_lr=0.0)
    with pytest.raises(ValueError, match="residual_alpha"):
        PredictorConfig(residual_alpha=-1.0)


def test_bad_task_for_the_teacher(digits16, small_space):
    other = small_space.build(small_space.teacher, 7, 1, seed=0)
    _perturb_batchnorm(other, 0)
    with pytest.raises(ValueError, match="the teacher's head has 7 classes but the dataset has 5"):
        prepare_context(TINY, small_space, other, digits16, 0.9)


def test_initial_weights_come_from_the_config_seed(small_space):
    torch.manual_seed(5)
    a = DaSSPredictor(TINY, small_space.graph_schema).state_dict()
    torch.manual_seed(9)
    b = DaSSPredictor(TINY, small_space.graph_schema).state_dict()
    c = DaSSPredictor(TINY.replace(seed=1), small_space.graph_schema).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_tasks_can_be_weighted_by_label_reliability(episodes):
    from dassgnn.predictor.training import _task_weight

    ep = dataclasses.replace(episodes[0], reliability=0.4)
    assert _task_weight(ep, TINY) == 1.0
    weighted = TINY.replace(reliability_weighting=True)
    assert _task_weight(ep, weighted) == pytest.approx(0.4)
    assert _task_weight(dataclasses.replace(ep, reliability=-0.3), weighted) == 0.0
    assert _task_weight(dataclasses.replace(ep, reliability=float("nan")), weighted) == 1.0
