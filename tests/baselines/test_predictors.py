import shutil
import sqlite3

import numpy as np
import pytest

from dassgnn.baselines import MetaD2A, PooledDaSS
from dassgnn.predictor import PredictorConfig, task_keys, task_labels
from dassgnn.ranking import NotFittedError, Teacher
from dassgnn.records import RecordStore, default_store_path

SHIPPED = ("digits", "mnist5k", "skimage_textures")  # data that comes with the dependencies


@pytest.fixture(scope="module")
def scratch_store(tmp_path_factory):
    """A copy of the committed records in which the meta-test tasks of the shipped
    datasets (they have scratch runs) play meta-training tasks."""
    path = tmp_path_factory.mktemp("records") / "records.db"
    shutil.copy(default_store_path(), path)
    with sqlite3.connect(path) as db:
        marks = ", ".join("?" * len(SHIPPED))
        db.execute(
            "UPDATE tasks SET role = 'meta-train' "
            f"WHERE role = 'meta-test' AND dataset IN ({marks})",
            SHIPPED,
        )
        db.execute("UPDATE tasks SET role = 'other' WHERE role = 'meta-train' AND dataset NOT IN "
                   f"({marks})", SHIPPED)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def teacher(digits_teacher, small_space):
    model, result = digits_teacher
    return Teacher(model, small_space, result.test_acc)


def test_metad2a_learns_from_scratch_accuracies(
    scratch_store, digits16, teacher, small_space, tmp_path
):
    config = PredictorConfig(hidden=16, per_class=2, steps=6, eval_every=3, meta=False,
                             branches=("arch", "dataset"))  # fmt: skip
    with RecordStore(scratch_store, readonly=True) as store:
        keys = task_keys(store, "meta-train", "scratch")
        assert sorted(store.get_task(k).dataset for k in keys) == sorted(SHIPPED)
        teacher_id, labels, seeds = task_labels(store, keys[0], "scratch")
        scratch = {r.arch_id: r.test_acc for r in store.runs(keys[0], mode="scratch")}
        assert teacher_id and labels == pytest.approx(scratch) and set(seeds.values()) == {1}
        method = MetaD2A(config, val_tasks=keys[:1])
        with pytest.raises(NotFittedError):
            method.score(digits16, teacher, small_space.sample(3, seed=0))
        assert method.fit(store) is method
    assert method.val_tasks_ == keys[:1] and len(method.train_tasks_) == 2
    archs = small_space.sample(6, seed=3)
    scores = method.score(digits16, teacher, archs)
    assert scores.shape == (6,) and np.isfinite(scores).all()
    path = method.save(tmp_path / "metad2a.pt")
    assert np.allclose(MetaD2A.load(path).score(digits16, teacher, archs), scores, atol=1e-2)


def test_default_configs_of_the_learned_baselines():
    assert MetaD2A().config_ == PredictorConfig(meta=False, branches=("arch", "dataset"))
    assert MetaD2A.label_mode == "scratch" and PooledDaSS.label_mode == "kd"
    assert PooledDaSS().config_ == PredictorConfig(meta=False)
    assert str(MetaD2A()) == "MetaD2A(arch='gine', meta=False, branches=['arch', 'dataset'])"
    assert str(PooledDaSS()) == "PooledDaSS(arch='gine', meta=False)"


def test_learned_baselines_merge_a_config_dict_with_their_defaults():
    from dassgnn.baselines import MetaD2A, PooledDaSS

    pooled = PooledDaSS(config={"hidden": 32})
    assert pooled.config_.meta is False and pooled.config_.hidden == 32
    assert MetaD2A(config={"steps": 5}).config_.branches == ("arch", "dataset")
    assert PooledDaSS(config=PredictorConfig(hidden=8)).config_.meta is True  # given whole
    assert PooledDaSS().get_params()["config"] is None  # the constructor only stores
    with pytest.raises(TypeError, match="config must be a PredictorConfig or a dict"):
        _ = PooledDaSS(config=[("hidden", 3)]).config_


def test_the_zero_cost_base_class_names_the_proxies(digits16):
    from dassgnn.baselines import ZeroCostProxy

    with pytest.raises(ValueError, match=r"names no proxy \(proxy=''\).*synflow, snip"):
        ZeroCostProxy().fit(None)
