import math

import pytest
from scipy.stats import spearmanr

from dassgnn.data import Task
from dassgnn.kd import Recipe
from dassgnn.records import (
    RecordStore,
    StudentRecord,
    format_dataset_summary,
    format_label_report,
    label_report,
    task_report,
)
from dassgnn.space import ResNetSpace

TASK = Task(dataset="digits", classes=(0, 1, 2))
SPACE = ResNetSpace(widths=(4, 8), depths=(2, 2), strides=(1, 2))
RECIPE = Recipe(epochs=2)
# (seed 0, seed 1, scratch) accuracies of five students
ACC = [
    (0.60, 0.62, 0.50),
    (0.70, 0.69, 0.52),
    (0.65, 0.66, 0.55),
    (0.80, 0.78, 0.60),
    (0.75, 0.77, 0.58),
]


def with_teacher(s, teacher_acc=0.9, role="meta-test"):
    """Records TASK and a teacher of SPACE on it; returns the teacher's id."""
    s.add_task(TASK, role=role)
    net = SPACE.build(SPACE.teacher, 3, 3, seed=0)
    return s.add_teacher(
        TASK, SPACE, SPACE.teacher, RECIPE, 0, teacher_acc, state_dict=net.state_dict()
    )


def add_kd(s, tid, arch, seed, acc, trainer=None):
    student = StudentRecord.from_space(SPACE, arch, TASK)
    s.add_run(
        TASK, arch, mode="kd", seed=seed, recipe=RECIPE, teacher_id=tid, test_acc=acc,
        student=student, trainer=trainer,
    )  # fmt: skip


@pytest.fixture
def store(tmp_path):
    with RecordStore(tmp_path / "r.db") as s:
        tid = with_teacher(s)
        archs = SPACE.sample(len(ACC), seed=0)
        for arch, (a, b, c) in zip(archs, ACC, strict=True):
            add_kd(s, tid, arch, 0, a)
            add_kd(s, tid, arch, 1, b)
            student = StudentRecord.from_space(SPACE, arch, TASK)
            s.add_run(
                TASK, arch, mode="scratch", seed=0, recipe=RECIPE, test_acc=c, student=student
            )
        yield s, archs


def test_task_report_matches_direct_computation(store):
    s, archs = store
    r = task_report(s, TASK.key)
    assert r["students"] == r["paired"] == 5 and r["role"] == "meta-test"
    assert r["seed_rho"] == pytest.approx(
        spearmanr([a for a, _, _ in ACC], [b for _, b, _ in ACC]).statistic
    )
    means = [(a + b) / 2 for a, b, _ in ACC]
    assert r["kd_min"] == pytest.approx(0.61) and r["kd_max"] == pytest.approx(0.79)
    assert r["seed_diff"] == pytest.approx(sum(abs(a - b) for a, b, _ in ACC) / 5)
    params = [SPACE.params(a, 3, 3) for a in archs]
    assert r["rho_params"] == pytest.approx(spearmanr(params, means).statistic)
    assert r["rho_scratch"] == pytest.approx(spearmanr(means, [c for *_, c in ACC]).statistic)
    assert r["kd_gain"] == pytest.approx(
        sum(m - c for m, (*_, c) in zip(means, ACC, strict=True)) / 5
    )
    assert r["teacher_acc"] == pytest.approx(0.9, abs=1e-6) and not r["saturated"]
    assert r["scratch_mean"] == pytest.approx(sum(c for *_, c in ACC) / 5)
    assert r["dataset"] == "digits"


def test_label_report_table(store):
    s, _ = store
    reports = label_report(s, role="meta-test")
    assert len(reports) == 1 and label_report(s, role="meta-train") == []
    table = format_label_report(reports)
    assert TASK.key in table and "seed rho" in table.splitlines()[0]
    assert "trainers same/cross" in table.splitlines()[0]
    assert "61.0-79.0" in table
    summary = format_dataset_summary(reports).splitlines()
    rho = f"{reports[0]['rho_params']:.2f}"
    assert len(summary) == 2 and summary[1].split() == [
        "digits", "1", "90.0-90.0", "61.0-79.0", "18.0", rho, f"[{rho},", f"{rho}]",
    ]  # fmt: skip


def test_single_seed_has_no_ceiling(tmp_path):
    with RecordStore(tmp_path / "r.db") as s:
        tid = with_teacher(s, teacher_acc=0.99, role=None)
        for arch, acc in zip(SPACE.sample(3, seed=1), (0.97, 0.98, 0.99), strict=True):
            add_kd(s, tid, arch, 0, acc)
        r = task_report(s, TASK.key)
        assert r["paired"] == 0 and math.isnan(r["seed_rho"]) and r["saturated"]


def test_more_seeds_give_pair_and_split_reliability(tmp_path):
    # four seeds of six students; seeds 0, 1 by the loop, seeds 2, 3 by the batched trainer
    acc = [
        (0.60, 0.61, 0.62, 0.60),
        (0.70, 0.68, 0.69, 0.71),
        (0.65, 0.66, 0.64, 0.63),
        (0.80, 0.79, 0.78, 0.81),
        (0.75, 0.77, 0.76, 0.74),
        (0.55, 0.58, 0.56, 0.57),
    ]
    with RecordStore(tmp_path / "r.db") as s:
        tid = with_teacher(s)
        for arch, row in zip(SPACE.sample(len(acc), seed=0), acc, strict=True):
            for seed, a in enumerate(row):
                add_kd(s, tid, arch, seed, a, trainer="loop" if seed < 2 else "batched")
        r = task_report(s, TASK.key)
    cols = list(zip(*acc, strict=True))
    pairs = {
        (a, b): spearmanr(cols[a], cols[b]).statistic for a in range(4) for b in range(a + 1, 4)
    }
    mean = sum(pairs.values()) / 6
    assert r["seeds"] == [0, 1, 2, 3]
    assert r["seed_rho"] == pytest.approx(pairs[0, 1])
    assert r["pair_rho"] == pytest.approx(mean)
    assert r["mean_rho"] == pytest.approx(4 * mean / (1 + 3 * mean))
    halves = [(a + b) / 2 for a, b, _, _ in acc], [(c + d) / 2 for _, _, c, d in acc]
    assert r["split_rho"] == pytest.approx(spearmanr(*halves).statistic)
    assert r["rho_same_trainer"] == pytest.approx((pairs[0, 1] + pairs[2, 3]) / 2)
    cross = [pairs[0, 2], pairs[0, 3], pairs[1, 2], pairs[1, 3]]
    assert r["rho_cross_trainer"] == pytest.approx(sum(cross) / 4)
