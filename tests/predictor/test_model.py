import dataclasses
import math

import pytest
import torch

from dassgnn.predictor import (
    BRANCHES,
    DaSSPredictor,
    Episode,
    MetaSGD,
    PredictorConfig,
    evaluate,
    meta_train,
    pairwise_rank_loss,
    prepare_inputs,
    teacher_support,
)
from dassgnn.space.checks import _perturb_batchnorm

TINY = PredictorConfig(
    hidden=16, per_class=3, steps=60, eval_every=20, meta_batch=2, query_size=8, lr=3e-3
)


@pytest.fixture(scope="module")
def episodes(digits16, small_space, digits_teacher):
    """Two synthetic 'tasks' on the digits: the same teacher, students labelled by
    a known function of their size (so a predictor can learn the ranking)."""
    teacher, result = digits_teacher
    out = []
    for seed in (0, 1):
        archs = small_space.sample(10, seed=seed)
        params = torch.tensor([small_space.params(a, 5, 1) for a in archs], dtype=torch.float)
        logp = params.log()
        targets = 0.5 + 0.3 * (logp - logp.min()) / (logp.max() - logp.min())
        inputs = prepare_inputs(
            TINY, small_space, teacher, digits16, archs, result.test_acc, targets=targets.tolist()
        )
        out.append(Episode(inputs, teacher_support(inputs, small_space)))
    return out


def test_inputs(episodes, small_space):
    inputs = episodes[0].inputs
    assert len(inputs) == 10 and inputs.cost.shape == (10, 2) and inputs.flat.shape[0] == 10
    assert inputs.student_grams.shape == (10, 8, 8) and inputs.teacher_gram.shape == (8, 8)
    assert inputs.image_labels.tolist() == sorted(inputs.image_labels.tolist())
    assert inputs.image_features.shape == (15, 64) and inputs.num_classes == 5
    sub = inputs.subset([2, 5])
    assert sub.archs == [inputs.archs[2], inputs.archs[5]] and sub.targets.shape == (2,)
    support = episodes[0].support
    assert support.archs == [small_space.teacher] and float(support.cost.abs().sum()) == 0
    assert support.targets.tolist() == pytest.approx([inputs.teacher_acc])


@pytest.mark.parametrize("arch_encoder", ["gine", "flat"])
def test_predictor_shapes_and_branches(episodes, small_space, arch_encoder):
    config = TINY.replace(arch_encoder=arch_encoder)
    model = DaSSPredictor(config, small_space.graph_schema)
    assert (
        str(model) == f"DaSSPredictor(arch={arch_encoder!r}, hidden=16, branches={list(BRANCHES)})"
    )
    out = model(episodes[0].inputs)
    assert out.shape == (10,) and torch.isfinite(out).all()
    for branch in BRANCHES:
        rest = tuple(b for b in BRANCHES if b != branch)
        ablated = DaSSPredictor(config.replace(branches=rest), small_space.graph_schema)
        assert ablated(episodes[0].inputs).shape == (10,)


def test_metasgd_adapts_the_head_on_the_teacher(episodes, small_space):
    torch.manual_seed(0)
    model = DaSSPredictor(TINY, small_space.graph_schema)
    metasgd = MetaSGD(model, init_lr=0.5)
    assert set(metasgd.log_lr) == {n.replace(".", "__") for n in model.head_parameters()}
    ep = episodes[0]
    task = model.embed_task(ep.inputs)
    before = model.fuse(task, model.embed_students(ep.support))
    params = metasgd.adapt(model, task, ep.support, steps=3)
    after = model.fuse(task, model.embed_students(ep.support), params)
    target = ep.support.targets
    error_before, error_after = (float((x[0] - target[0]).detach().abs()) for x in (before, after))
    assert error_after < error_before / 2
    # the adapted head is a function of the learned step sizes: meta-gradients reach them
    params = metasgd.adapt(model, task, ep.support, create_graph=True)
    model.fuse(task, model.embed_students(ep.inputs), params).sum().backward()
    assert all(p.grad is not None for p in metasgd.parameters())


@pytest.mark.parametrize("meta", [True, False])
def test_meta_training_learns_a_ranking_and_keeps_the_best_state(episodes, small_space, meta):
    model = DaSSPredictor(TINY.replace(meta=meta), small_space.graph_schema)
    untrained = evaluate(model, None, episodes[1:], adapt=False)[0]
    metasgd, log = meta_train(model, episodes[:1], episodes[1:])
    assert (metasgd is not None) == meta
    assert log.steps == [20, 40, 60] and len(log.val_rho) == 3
    assert log.best_val_rho == max(log.val_rho)
    rho = evaluate(model, metasgd, episodes[1:], adapt=meta)[0]
    assert rho == pytest.approx(log.best_val_rho)
    assert rho > 0.5 and (math.isnan(untrained) or rho > untrained)


def test_pairwise_rank_loss():
    target = torch.tensor([0.5, 0.6, 0.7])
    good = pairwise_rank_loss(torch.tensor([0.1, 0.2, 0.3]), target)
    bad = pairwise_rank_loss(torch.tensor([0.3, 0.2, 0.1]), target)
    assert float(good) < float(bad)
    assert float(pairwise_rank_loss(torch.ones(3), torch.ones(3))) == 0.0


def test_dropped_node_features_do_not_reach_the_gnn(episodes, small_space):
    stages = tuple(f"stage={s}" for s in range(6))
    config = TINY.replace(drop_node_features=stages)
    assert PredictorConfig.from_dict(config.to_dict()) == config
    model = DaSSPredictor(config, small_space.graph_schema).eval()
    inputs = episodes[0].inputs
    columns = [small_space.graph_schema.node_features.index(n) for n in stages]

    def changed(column_values):
        graphs = [g.clone() for g in inputs.graphs]
        for g in graphs:
            for column, value in column_values:
                g.x[:, column] = value
        return dataclasses.replace(inputs, graphs=graphs, batch=None)

    with torch.no_grad():
        before = model(inputs)
        assert torch.allclose(model(changed([(c, 7.0) for c in columns])), before)
        assert not torch.allclose(model(changed([(0, 1.0)])), before)  # kept features matter
    with pytest.raises(ValueError, match=r"drop_node_features \['stage=9'\] are not node"):
        DaSSPredictor(TINY.replace(drop_node_features=("stage=9",)), small_space.graph_schema)
    with pytest.raises(TypeError, match="drop_node_features must be a list"):
        PredictorConfig(drop_node_features="stage=0")


def test_config_validation_and_round_trip():
    config = TINY.replace(branches=("student", "arch"))
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


def test_bad_task_for_the_teacher(digits16, small_space):
    other = small_space.build(small_space.teacher, 7, 1, seed=0)
    _perturb_batchnorm(other, 0)
    with pytest.raises(ValueError, match="the teacher's head has 7 classes but the dataset has 5"):
        prepare_inputs(TINY, small_space, other, digits16, [small_space.teacher], 0.9)


def test_initial_weights_come_from_the_config_seed(small_space):
    torch.manual_seed(5)
    a = DaSSPredictor(TINY, small_space.graph_schema).state_dict()
    torch.manual_seed(9)
    b = DaSSPredictor(TINY, small_space.graph_schema).state_dict()
    c = DaSSPredictor(TINY.replace(seed=1), small_space.graph_schema).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
