import json

import numpy as np
import pytest

from dassgnn.data import DatasetSplits, Task, load_dataset, prepare


@pytest.fixture(scope="module")
def digits() -> DatasetSplits:
    return load_dataset("digits")


def test_fields_key_and_serialisation():
    task = Task("digits", [7, 2, 5], image_size=16, channels=1, train_per_class=20, seed=4)
    assert task.classes == (7, 2, 5) and task.num_classes == 3
    text = task.to_json()
    assert json.loads(text)["classes"] == [7, 2, 5]
    assert Task.from_json(text) == task
    assert Task.from_dict(task.to_dict()) == task
    assert hash(Task.from_json(text)) == hash(task)
    assert len({task, Task.from_json(text)}) == 1
    # The key is a pure function of the fields: fixed across runs and versions.
    fixed = Task("digits", (7, 2, 5), 16, 1, 20, 10, 4)
    assert fixed.key == "digits-3way-125a33bef50a"
    assert Task("digits", (7, 2, 5), 16, 1, 20, 10, 5).key != fixed.key
    assert Task("digits", (2, 7, 5), 16, 1, 20, 10, 4).key != fixed.key


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"dataset": "mnist"}, KeyError, "unknown dataset 'mnist'; valid names: .*digits"),
        ({"classes": (1, 1, 2)}, ValueError, r"classes contains duplicates \[1\]"),
        ({"classes": (3,)}, ValueError, "at least 2 classes, got 1"),
        ({"classes": (-1, 2)}, ValueError, "classes must be >= 0, got -1"),
        ({"classes": (0.5, 2)}, TypeError, "classes must hold integers"),
        ({"classes": "12"}, TypeError, "classes must be a sequence of ints"),
        ({"image_size": 0}, ValueError, "image_size must be >= 1, got 0"),
        ({"channels": 2}, ValueError, "channels must be 1 or 3, got 2"),
        ({"train_per_class": 0}, ValueError, "train_per_class must be >= 1, got 0"),
        ({"test_per_class": 2.0}, TypeError, "test_per_class must be an int, got float"),
        ({"seed": -3}, ValueError, r"seed must be in \[0, 9223372036854775807\], got -3"),
    ],
)
def test_task_validation(kwargs, error, match):
    fields = {"dataset": "digits", "classes": (0, 1), **kwargs}
    with pytest.raises(error, match=match):
        Task(**fields)


def test_from_dict_errors():
    with pytest.raises(ValueError, match=r"unknown keys \['colour'\]"):
        Task.from_dict({"dataset": "digits", "classes": [0, 1], "colour": 1})
    with pytest.raises(ValueError, match=r"lacks the keys \['classes'\]"):
        Task.from_dict({"dataset": "digits"})
    with pytest.raises(ValueError, match="text is not valid JSON"):
        Task.from_json("{dataset")


def test_sample_is_deterministic():
    a = Task.sample("digits", 5, seed=0, num_source_classes=10)
    assert a == Task.sample("digits", 5, seed=0, num_source_classes=10)
    assert a.classes == (2, 3, 4, 6, 7) and a.seed == 0
    b = Task.sample("digits", 5, seed=1, num_source_classes=10)
    assert b.classes == (0, 1, 4, 7, 8) and b != a
    # Without num_source_classes the dataset is loaded to count its classes.
    assert Task.sample("digits", 5, seed=0, image_size=8, channels=1).classes == a.classes
    with pytest.raises(ValueError, match="num_classes=11 exceeds the 10 classes of 'digits'"):
        Task.sample("digits", 11, num_source_classes=10)
    with pytest.raises(ValueError, match="num_classes must be >= 2, got 1"):
        Task.sample("digits", 1, num_source_classes=10)


def test_load_relabels_subsamples_and_prepares(digits):
    task = Task(
        "digits", (7, 2, 5), image_size=16, channels=1, train_per_class=20, test_per_class=9
    )
    splits = task.select(digits)
    assert splits.classes == ("7", "2", "5")
    assert splits.train.class_counts().tolist() == [20, 20, 20]
    assert splits.test.class_counts().tolist() == [9, 9, 9]
    assert splits.train.images.shape == (60, 16, 16, 1) and splits.name == task.key
    train_idx, test_idx = task.indices(digits)
    np.testing.assert_array_equal(np.sort(train_idx), train_idx)
    assert len(test_idx) == 27
    np.testing.assert_array_equal(
        splits.test.images, prepare(digits.test.subset(test_idx), 16, 1).images
    )
    src = digits.train.subset(train_idx)
    np.testing.assert_array_equal(splits.train.images, prepare(src, 16, 1).images)
    relabel = {7: 0, 2: 1, 5: 2}
    assert splits.train.labels.tolist() == [relabel[int(y)] for y in src.labels]
    full = Task("digits", (0, 9), image_size=8, channels=1).load()
    assert len(full.train) == int(digits.train.class_counts()[[0, 9]].sum())
    rgb = Task("digits", (0, 9)).load()
    assert rgb.train.images.shape[1:] == (32, 32, 3)


def test_indices_are_seeded_and_per_class(digits):
    a = Task("digits", (2, 7), train_per_class=15, test_per_class=5, seed=3)
    b = Task("digits", (7, 2, 5), train_per_class=15, test_per_class=5, seed=3)
    c = Task("digits", (2, 7), train_per_class=15, test_per_class=5, seed=4)
    ia, ib, ic = a.indices(digits), b.indices(digits), c.indices(digits)
    np.testing.assert_array_equal(ia[0], a.indices(digits)[0])
    # A class gets the same images whichever other classes share the task.
    seven = digits.train.labels == 7
    np.testing.assert_array_equal(ia[0][seven[ia[0]]], ib[0][seven[ib[0]]])
    assert not np.array_equal(ia[0], ic[0])
    assert not np.array_equal(ia[1], ic[1])


def test_load_errors(digits):
    with pytest.raises(ValueError, match=r"classes must lie in \[0, 10\), got 12"):
        Task("digits", (0, 12)).select(digits)
    with pytest.raises(ValueError, match=r"train_per_class=143 but class 2 \('2'\) has only 142"):
        Task("digits", (3, 2), train_per_class=143).select(digits)
    with pytest.raises(ValueError, match=r"test_per_class=37 but class 2 \('2'\) has only 35"):
        Task("digits", (3, 2), test_per_class=37).select(digits)
    with pytest.raises(TypeError, match="source must be a DatasetSplits, got ImageDataset"):
        Task("digits", (1, 3)).select(digits.train)


def test_split_classes_disjoint_and_overlapping():
    tasks = Task.split_classes("digits", 3, 3, seed=5, num_source_classes=10, image_size=8)
    assert len(tasks) == 3
    flat = [c for t in tasks for c in t.classes]
    assert len(set(flat)) == 9  # disjoint
    assert all(list(t.classes) == sorted(t.classes) for t in tasks)
    assert len({t.seed for t in tasks}) == 3
    assert all(t.image_size == 8 for t in tasks)
    assert tasks == Task.split_classes("digits", 3, 3, seed=5, num_source_classes=10, image_size=8)
    assert tasks != Task.split_classes("digits", 3, 3, seed=6, num_source_classes=10, image_size=8)
    with pytest.raises(ValueError, match=r"3 \* 4 = 12 disjoint classes requested, but 'digits'"):
        Task.split_classes("digits", 3, 4, num_source_classes=10)
    many = Task.split_classes("digits", 5, 30, seed=0, disjoint=False, num_source_classes=10)
    assert len({t.classes for t in many}) == 30
    with pytest.raises(ValueError, match="num_tasks=46 exceeds the 45 distinct 2-class sets"):
        Task.split_classes("digits", 2, 46, disjoint=False, num_source_classes=10)


@pytest.mark.shared_data
def test_tasks_on_omniglot_and_cifar(shared_data):
    tasks = Task.split_classes(
        "omniglot_small1", 5, 20, seed=0, image_size=28, channels=1, test_per_class=4
    )
    assert len({c for t in tasks for c in t.classes}) == 100
    splits = tasks[0].load()
    assert (len(splits.train), len(splits.test)) == (75, 20)
    assert splits.image_size == (28, 28) and splits.channels == 1
    task = Task.sample("cifar10", 4, seed=2, root=shared_data, train_per_class=30)
    cifar = task.load(root=shared_data)
    assert cifar.train.class_counts().tolist() == [30] * 4
    assert cifar.test.class_counts().tolist() == [500] * 4
    assert cifar.train.images.shape[1:] == (32, 32, 3)
    source = load_dataset("cifar10")
    assert cifar.classes == tuple(source.classes[i] for i in task.classes)
