import pytest

from dassgnn.collect import Plan, StudentJob, TeacherJob
from dassgnn.kd import Recipe
from dassgnn.space import ResNetSpace

from .conftest import tiny_plan_dict

TOML = """
name = "from-toml"
[recipe]
epochs = 2
[[tasks]]
dataset = "digits"
num_classes = 3
num_tasks = 2
students = 5
space = {widths = [4, 8], depths = [2, 2], strides = [1, 2]}
kd_seeds = [0, 1]
scratch_seeds = [0]
role = "meta-test"
"""

YAML = """
name: from-yaml
recipe: {epochs: 2}
tasks:
  - dataset: digits
    num_classes: 3
    num_tasks: 2
    students: 5
    space: {widths: [4, 8], depths: [2, 2], strides: [1, 2]}
    kd_seeds: [0, 1]
    scratch_seeds: [0]
    role: meta-test
"""


def test_toml_and_yaml_give_the_same_jobs(tmp_path):
    (tmp_path / "p.toml").write_text(TOML)
    (tmp_path / "p.yaml").write_text(YAML)
    a, b = Plan.from_file(tmp_path / "p.toml"), Plan.from_file(tmp_path / "p.yaml")
    assert a.name == "from-toml" and b.name == "from-yaml"
    assert a.recipe == b.recipe == Recipe(epochs=2)
    assert a.student_jobs() == b.student_jobs()
    # 2 tasks x 5 students x (2 KD seeds + 1 scratch seed)
    assert len(a.student_jobs()) == 2 * 5 * 3
    assert len(a.teacher_jobs()) == 2
    assert {j.role for j in a.teacher_jobs()} == {"meta-test"}


def test_jobs_are_deterministic_grouped_and_keyed(tiny_plan):
    jobs = tiny_plan.student_jobs()
    assert jobs == Plan.from_dict(tiny_plan_dict()).student_jobs()
    assert all(isinstance(j, StudentJob) for j in jobs)
    # runs sharing teacher and seed are adjacent, so the teacher's logits are reused
    groups = [(j.mode, j.seed) for j in jobs]
    assert groups == sorted(groups, key=lambda g: ({"kd": 0, "scratch": 1}[g[0]], g[1]))
    keys = [j.key for j in jobs]
    assert len(set(keys)) == len(keys)
    teacher = tiny_plan.teacher_jobs()[0]
    assert isinstance(teacher, TeacherJob)
    kd, scratch = jobs[0], jobs[-1]
    assert kd.key.teacher_id == teacher.teacher_id and scratch.key.teacher_id == ""
    assert teacher.teacher_id.startswith(teacher.task.key + "/resnet-")
    space = ResNetSpace(widths=(4, 8), depths=(2, 2), strides=(1, 2))
    assert teacher.space == space.to_dict()  # defaults spelt out


def test_explicit_archs_and_classes():
    plan = Plan.from_dict(tiny_plan_dict(archs=["1,1|8|16"], classes=[0, 5, 9], students=2))
    task = plan.teacher_jobs()[0].task
    assert task.classes == (0, 5, 9)
    assert {j.arch.id for j in plan.student_jobs()} >= {"1,1|8|16"}


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"dataset": "imagenet"}, ValueError, "unknown dataset 'imagenet' in the plan; valid: "),
        ({"archs": ["3,1|8,8,8|16"]}, ValueError, "depth 3 > maximum 2"),
        ({"space": {"name": "vit"}}, KeyError, "unknown search space 'vit'"),
        ({"epochs": 3}, ValueError, r"unknown keys \['epochs'\]"),
    ],
)
def test_bad_plans(change, error, match):
    data = tiny_plan_dict()
    data["tasks"][0].update(change)
    with pytest.raises(error, match=match):
        Plan.from_dict(data)


def test_bad_plan_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Plan.from_file(tmp_path / "missing.toml")
    (tmp_path / "p.json").write_text("{}")
    with pytest.raises(ValueError, match=r"\.toml, \.yaml or \.yml"):
        Plan.from_file(tmp_path / "p.json")
    (tmp_path / "p.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="does not hold a mapping"):
        Plan.from_file(tmp_path / "p.yaml")
    with pytest.raises(ValueError, match="at least one entry under 'tasks'"):
        Plan.from_dict({"name": "empty"})
    with pytest.raises(
        ValueError, match=r"unknown keys \['recipes'\] \('recipes': did you mean 'recipe'\?\)"
    ):
        Plan.from_dict({"recipes": {}, "tasks": []})
    with pytest.raises(ValueError, match="recipe: unknown recipe fields"):
        Plan.from_dict(tiny_plan_dict(recipe={"epoch": 1}))


def test_students_are_sampled_per_task_unless_shared():
    varied = Plan.from_dict(tiny_plan_dict(num_tasks=2, num_classes=3, students=4))
    shared = Plan.from_dict(
        tiny_plan_dict(num_tasks=2, num_classes=3, students=4, same_students=True)
    )

    def archs_by_task(plan):
        out = {}
        for job in plan.student_jobs():
            out.setdefault(job.teacher.task.key, set()).add(job.arch)
        return list(out.values())

    a, b = archs_by_task(varied)
    assert len(a) == len(b) == 4 and a != b
    c, d = archs_by_task(shared)
    assert c == d


@pytest.mark.shared_data
def _committed_plan() -> Plan:
    from pathlib import Path

    import dassgnn

    return Plan.from_file(Path(dassgnn.__file__).parent / "assets" / "meta_dataset.toml")


def test_the_committed_plan_parses():
    plan = _committed_plan()
    roles = [j.role for j in plan.teacher_jobs()]
    assert roles.count("meta-test") == 20 and roles.count("meta-train") == 24 + 21
    assert roles.count("pilot-rejected") == 1  # the Omniglot small1 task whose seeds disagree
    shapes = {
        tuple(j.space["widths"]) + tuple(j.space["depths"])
        for j in plan.teacher_jobs()
        if j.role == "meta-train"
    }
    assert len(shapes) == 6  # 4 shapes before issue 15, and 10-20-40 x2, 8-16-32 x2
    assert plan.recipe.min_steps == 200 and plan.recipe.eval_every == 0
    train = plan.select("meta-train")
    assert {j.role for j in train.teacher_jobs()} == {"meta-train"}
    # 30 students a task with KD seed 0, and seed 1 for 10 students of six of them; then
    # 22 tasks of issue 15 with 24 students and KD seeds 0 and 1, one of them since rejected
    assert len(train.student_jobs()) == 24 * 30 + 6 * 10 + 21 * 24 * 2
    assert sum(j.seed == 1 for j in train.student_jobs()) == 6 * 10 + 21 * 24
    assert set(train.student_jobs()) < set(plan.student_jobs())
    with pytest.raises(ValueError, match=r"no task group has role='validation'.*meta-test"):
        plan.select("validation")
    extra = plan.select("meta-test", seeds=[1])
    assert {j.seed for j in extra.student_jobs()} == {1}
    assert {j.mode for j in extra.student_jobs()} == {"kd"}
    assert len(extra.student_jobs()) == 5 * 40 + 15 * 32  # the first five, then the added ones
    with pytest.raises(ValueError, match=r"no run of the plan has a seed in seeds=\[7\]"):
        plan.select(seeds=[7])


def test_the_committed_plan_keeps_meta_test_only_datasets_out_of_meta_training():
    from dassgnn.data import META_TEST_ONLY

    plan = _committed_plan()
    for job in plan.teacher_jobs():
        if job.task.dataset in META_TEST_ONLY:
            assert job.role == "meta-test", f"{job.task.key} of {job.task.dataset} is {job.role}"
    unseen = [j for j in plan.teacher_jobs() if j.task.dataset in META_TEST_ONLY]
    assert {j.task.dataset for j in unseen} == set(META_TEST_ONLY) and len(unseen) >= 3
    # a 4-stage teacher and a 3-stage one wider than the default 8-16-32
    assert any(len(j.space["widths"]) == 4 for j in unseen)
    assert any(len(j.space["widths"]) == 3 and j.space["widths"][0] > 8 for j in unseen)
    weak = [j for j in plan.teacher_jobs() if j.recipe.min_steps < 100]
    assert len(weak) >= 2 and {j.role for j in weak} == {"meta-train"}
    new = [j for j in plan.select("meta-train", seeds=[1]).teacher_jobs()]
    sizes = {j.task.image_size for j in new}
    assert {16, 24, 32} <= sizes and {1, 3} <= {j.task.channels for j in new}


def test_no_plan_and_no_committed_task_meta_trains_on_a_meta_test_only_dataset():
    from pathlib import Path

    from dassgnn.data import META_TEST_ONLY
    from dassgnn.records import RecordStore, default_store_path

    plans = sorted((Path(__file__).parents[2] / "benchmarks" / "plans").glob("*.toml"))
    assert plans, "benchmarks/plans/*.toml not found"
    for plan in [_committed_plan(), *map(Plan.from_file, plans)]:
        for job in plan.teacher_jobs():
            if job.task.dataset in META_TEST_ONLY:
                assert job.role == "meta-test", f"{plan.name}: {job.task.key} is {job.role}"
    with RecordStore(default_store_path(), readonly=True) as store:
        for task in store.tasks():
            if task.dataset in META_TEST_ONLY:
                assert store.task_role(task.key) == "meta-test", task.key


def test_a_group_can_change_the_teacher_recipe():
    plan = Plan.from_dict(
        {
            "teacher_recipe": {"epochs": 30, "lr": 0.1},
            "tasks": [
                {"dataset": "digits", "students": 2},
                {"dataset": "digits", "students": 2, "teacher_recipe": {"epochs": 1}},
            ],
        }
    )
    strong, weak = plan.teacher_jobs()
    assert strong.recipe.epochs == 30 and weak.recipe.epochs == 1 and weak.recipe.lr == 0.1
    assert strong.teacher_id != weak.teacher_id
    assert {j.teacher.recipe.epochs for j in plan.student_jobs()} == {30, 1}
    for bad, error, match in [
        ({"epochs": "two"}, TypeError, "epochs"),
        ({"epoch": 2}, ValueError, r"teacher_recipe has unknown keys \['epoch'\]"),
        (3, TypeError, "teacher_recipe of a task group must be a table"),
    ]:
        with pytest.raises(error, match=match):
            Plan.from_dict({"tasks": [{"dataset": "digits", "teacher_recipe": bad}]})


# what a new user writes by mistake, and the message that says what to write instead
MISTAKES = [
    (
        "students = 6",
        'students = "six"',
        TypeError,
        r"tasks\[0\]: students must be an int, got str 'six'",
    ),
    (
        "kd_seeds = [0, 1]",
        'kd_seeds = ["a"]',
        TypeError,
        r"kd_seeds must hold ints, got 'a' \(str\)",
    ),
    ("kd_seeds = [0, 1]", "kd_seeds = [0.5]", TypeError, r"kd_seeds must hold ints, got 0\.5"),
    ("kd_seeds = [0, 1]", "kd_seeds = 0", TypeError, r"got the int 0; write kd_seeds = \[0\]"),
    ("kd_seeds = [0, 1]", "kd_seeds = [0, 0]", ValueError, r"kd_seeds has repeated seeds"),
    (
        "kd_seeds = [0, 1]",
        "kd_seeds = [-1]",
        ValueError,
        r"kd_seeds must hold ints in \[0, 9223372036854775807\]",
    ),
    ("[[tasks]]", "[tasks]", ValueError, r"write each group under \[\[tasks\]\] \(two brackets\)"),
    (
        "students = 6",
        "students = 6\nepochs = 2",
        ValueError,
        r"\['epochs'\] \('epochs': a recipe setting: put it under \[recipe\]",
    ),
    ("kd_seeds = [0, 1]", "kd_seed = [0]", ValueError, r"'kd_seed': did you mean 'kd_seeds'\?"),
    ("students = 6", "students = -1", ValueError, r"students must be >= 0, got -1"),
    ("channels = 1", "channels = 2", ValueError, r"channels must be 1 or 3, got 2"),
    ("num_classes = 3", "num_classes = 1", ValueError, r"num_classes must be >= 2, got 1"),
    ("num_classes = 3", "num_tasks = 2", ValueError, r"num_tasks=2 needs num_classes"),
    ("num_classes = 3", "classes = [0, 1, 1]", ValueError, r"at least 2 distinct ids"),
    (
        "num_classes = 3",
        "num_classes = 3\nclasses = [0, 1]",
        ValueError,
        r"num_classes=3 but classes has 2 ids",
    ),
    (
        "students = 6",
        "students = 6\nsame_students = 1",
        TypeError,
        r"same_students must be true or false, got int 1",
    ),
    ('archs = ["1,1|8|16"]', 'archs = "1,1|8|16"', TypeError, r"write archs = \['1,1\|8\|16'\]"),
    ('archs = ["1,1|8|16"]', 'archs = ["3,1|8,8,8|16"]', ValueError, r"depth 3 > maximum 2"),
    (
        "space = { widths = [4, 8], depths = [2, 2], strides = [1, 2] }",
        'space = "resnet"',
        TypeError,
        r"space must be a table",
    ),
    ("space = {", 'space = { name = "vit", ', KeyError, r"unknown search space 'vit'"),
    ("lr = 0.02", "lr = -1.0", ValueError, r"recipe: .*lr"),
    (
        'name = "tiny"',
        'name = "tiny"\ndataset = "digits"',
        ValueError,
        r"'dataset': task-group settings go in a \[\[tasks\]\] entry",
    ),
    ("lr = 0.02", "lr = ", ValueError, r"plan\.toml: invalid TOML: .*line 4"),
]

TINY_TOML = """name = "tiny"
[recipe]
epochs = 1
lr = 0.02
eval_every = 0
[[tasks]]
dataset = "digits"
num_classes = 3
image_size = 8
channels = 1
space = { widths = [4, 8], depths = [2, 2], strides = [1, 2] }
students = 6
archs = ["1,1|8|16"]
kd_seeds = [0, 1]
"""


@pytest.mark.parametrize(("old", "new", "error", "match"), MISTAKES)
def test_plan_mistakes_name_the_file_and_the_fix(tmp_path, old, new, error, match):
    assert old in TINY_TOML
    path = tmp_path / "plan.toml"
    path.write_text(TINY_TOML.replace(old, new, 1))
    with pytest.raises(error, match=match) as info:
        Plan.from_file(path)
    assert str(path) in str(info.value) and info.value.__cause__ is None


def test_the_tiny_toml_is_valid(tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text(TINY_TOML)
    jobs = Plan.from_file(path).student_jobs()
    assert len(jobs) == 2 * len({j.arch for j in jobs}) >= 2 * 6


def test_yaml_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("name: x\ntasks:\n  - dataset: digits\n    students: [1,\n")
    with pytest.raises(ValueError, match=r"plan\.yaml: invalid YAML at line 5, column 1: "):
        Plan.from_file(path)
    path.write_text("name: x\ntasks:\n  dataset: digits\n")
    with pytest.raises(ValueError, match=r"'tasks' is a single table.*'- dataset: \.\.\.'"):
        Plan.from_file(path)
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        Plan.from_file(path)


def test_check_finds_missing_data_and_short_classes(tmp_path, monkeypatch):
    Plan.from_dict(tiny_plan_dict()).check()  # the 8x8 digits: 142+ train images a class
    with pytest.raises(ValueError, match=r"tasks\[0\] \(digits\): train_per_class=500 but class"):
        Plan.from_dict(tiny_plan_dict(train_per_class=500)).check()
    with pytest.raises(ValueError, match=r"num_classes=11 exceeds the 10 classes of 'digits'"):
        Plan.from_dict(tiny_plan_dict(num_classes=11)).check()
    monkeypatch.setenv("DASSGNN_DATA", str(tmp_path))
    cifar = Plan.from_dict(tiny_plan_dict(dataset="cifar10"))  # nothing loads on parsing
    with pytest.raises(FileNotFoundError, match=r"tasks\[0\] \(cifar10\): no \.npz file"):
        cifar.check()
    monkeypatch.delenv("DASSGNN_DATA")
    import dassgnn.data.catalog as catalog

    monkeypatch.setattr(catalog, "checkout_data_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"tasks\[0\] \(cifar10\): no data folder"):
        cifar.check()


def test_data_check_messages_name_the_plan_file(tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text('[[tasks]]\ndataset = "digits"\ntrain_per_class = 500\nstudents = 2\n')
    plan = Plan.from_file(path)
    assert plan.source == str(path)
    with pytest.raises(ValueError, match=rf"{path}: tasks\[0\] \(digits\): train_per_class=500"):
        plan.check()


def test_seeds_must_fit_the_records_64_bit_integers():
    for key, value in (("kd_seeds", [2**63]), ("teacher_seed", 2**63), ("student_seed", 2**64)):
        with pytest.raises(ValueError, match=rf"{key} must .*9223372036854775807"):
            Plan.from_dict({"tasks": [{"dataset": "digits", "students": 2, key: value}]})
    ok = Plan.from_dict({"tasks": [{"dataset": "digits", "students": 2, "kd_seeds": [2**63 - 1]}]})
    assert ok.groups[0].kd_seeds == (2**63 - 1,)


def test_a_task_has_one_teacher():
    group = {"dataset": "digits", "students": 2}
    other = {**group, "space": {"widths": [8, 16], "depths": [2, 2], "strides": [1, 2]}}
    with pytest.raises(ValueError, match=r"tasks\[0\] and tasks\[1\] make the same task digits"):
        Plan.from_dict({"tasks": [group, other]}).check()
    Plan.from_dict({"tasks": [group, {**other, "seed": 1}]}).check()
    Plan.from_dict({"tasks": [group, {**group, "kd_seeds": [1]}]}).check()  # the same teacher
