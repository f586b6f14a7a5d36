"""Plans whose datasets are paths, collected by every executor (the workers load the data
from the path the tasks carry; nothing is registered)."""

import pytest
import yaml

from dassgnn.collect import Plan, collect
from dassgnn.data import Task, dataset_id, load_dataset
from dassgnn.records import RecordStore

from ..conftest import write_npz
from .conftest import tiny_plan_dict


@pytest.fixture
def plan_file(tmp_path):
    digits = load_dataset("digits")
    (tmp_path / "data").mkdir()
    write_npz(tmp_path / "data" / "mine.npz", digits)
    plan = tiny_plan_dict(dataset="data/mine.npz", students=2, kd_seeds=[0], scratch_seeds=[])
    path = tmp_path / "plans" / "plan.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(plan).replace("data/mine.npz", "../data/mine.npz"))
    return path


def recorded(db):
    with RecordStore(db, readonly=True) as store:
        return store.tasks(), {r.key: r.test_acc for r in store.runs()}


def test_a_plan_names_its_data_by_a_path_relative_to_the_file(plan_file, tmp_path):
    plan = Plan.from_file(plan_file)
    npz = (tmp_path / "data" / "mine.npz").resolve()
    assert plan.groups[0].dataset == str(npz)
    (task,) = plan.groups[0].tasks()
    assert task.path == str(npz) and task.dataset == dataset_id(npz)
    plan.check()
    db = tmp_path / "serial.db"
    report = collect(plan, db, executor="serial", threads=1, progress=False)
    assert report.runs_done == 2 and report.runs_failed == 0
    tasks, _ = recorded(db)
    assert [t.key for t in tasks] == [task.key] and tasks[0].path == str(npz)
    # the same data elsewhere makes the same task key
    assert (
        Task(
            tmp_path / "data" / "mine.npz",
            task.classes,
            **{k: getattr(task, k) for k in ("image_size", "channels", "seed")},
        ).key
        == task.key
    )


def test_a_bad_data_path_in_a_plan(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "readme.md").write_text("x")
    with pytest.raises(ValueError, match=r"tasks\[0\].*neither layout: it holds 1 files"):
        Plan.from_dict(tiny_plan_dict(dataset=str(tmp_path / "stuff")))


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["pool", "batched", "ray"])
def test_every_executor_loads_path_data_in_its_workers(plan_file, tmp_path, executor):
    plan = Plan.from_file(plan_file)
    serial = tmp_path / "serial.db"
    collect(plan, serial, executor="serial", threads=1, progress=False)
    db = tmp_path / f"{executor}.db"
    kwargs = {"pool": {"workers": 2}, "batched": {"group": 2, "threads": 1}, "ray": {"workers": 2}}
    if executor == "ray":
        ray = pytest.importorskip("ray")
    try:
        report = collect(plan, db, executor=executor, progress=False, **kwargs[executor])
    finally:
        if executor == "ray":
            ray.shutdown()
    assert report.teachers_trained == 1 and report.runs_done == 2 and report.runs_failed == 0
    tasks, runs = recorded(db)
    serial_tasks, serial_runs = recorded(serial)
    assert [t.key for t in tasks] == [t.key for t in serial_tasks]
    assert set(runs) == set(serial_runs)
