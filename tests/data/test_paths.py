"""Datasets named by a path: .npz files, image folders and train/test folders, in tasks."""

import hashlib
import pickle
import shutil

import numpy as np
import pytest
from PIL import Image

from dassgnn.data import (
    Task,
    check_layout,
    dataset_id,
    load_dataset,
    load_path,
    num_classes_at,
)
from dassgnn.records import RecordStore, default_store_path

from ..conftest import write_npz


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def write_folder(root, dataset, per_class=10, classes=(0, 1, 2)):
    for c in classes:
        (root / f"c{c}").mkdir(parents=True)
        for i, j in enumerate(np.flatnonzero(dataset.labels == c)[:per_class]):
            Image.fromarray(dataset.images[j, :, :, 0]).save(root / f"c{c}" / f"{i:03d}.png")
    return root


@pytest.fixture
def npz(tmp_path, digits):
    return write_npz(tmp_path / "digits.npz", digits)


def test_a_task_on_an_npz_path(npz, digits, tmp_path):
    task = Task(str(npz), classes=(0, 3, 5), image_size=8, channels=1)
    assert task.path == str(npz.resolve()) and task.dataset.startswith("digits.npz@")
    assert task.key.startswith(task.dataset + "-3way-")
    splits = task.load()
    reference = Task("digits", classes=(0, 3, 5), image_size=8, channels=1).load()
    assert np.array_equal(splits.train.images, reference.train.images)
    assert np.array_equal(splits.test.labels, reference.test.labels)
    # the key depends on the content, not the place
    copy = tmp_path / "elsewhere" / "digits.npz"
    copy.parent.mkdir()
    shutil.copy(npz, copy)
    moved = Task(copy, classes=(0, 3, 5), image_size=8, channels=1)
    assert moved.key == task.key and moved.path != task.path
    # it travels to workers: JSON and pickle keep the path, and the key ignores it
    again = Task.from_json(task.to_json())
    assert again == task and again.key == task.key and again.path == task.path
    assert pickle.loads(pickle.dumps(task)).load().train.images.shape == splits.train.images.shape
    # a sampled task on a path
    sampled = Task.sample(str(npz), num_classes=4, seed=1, image_size=8, channels=1)
    assert sampled.dataset == task.dataset and sampled.num_classes == 4


def test_changed_data_is_refused(npz, digits):
    task = Task(str(npz), classes=(0, 1), image_size=8, channels=1)
    images = digits.train.images.copy()
    images[0, 0, 0, 0] ^= 1
    np.savez(
        npz,
        x_train=images,
        x_test=digits.test.images,
        y_train=digits.train.labels,
        y_test=digits.test.labels,
        classes=np.array(digits.classes),
    )
    assert dataset_id(npz) != task.dataset
    with pytest.raises(ValueError, match="changed since the task was made"):
        task.load()


def test_image_folders(tmp_path, digits):
    folder = write_folder(tmp_path / "imgs", digits.train)
    assert check_layout(folder) == "folder" and num_classes_at(folder) == 3
    splits = load_path(folder)
    assert (len(splits.train), len(splits.test)) == (24, 6)  # a fifth of each class to test
    assert splits.classes == ("c0", "c1", "c2") and splits.channels == 1
    pair = tmp_path / "pair"
    write_folder(pair / "train", digits.train, per_class=6)
    write_folder(pair / "test", digits.test, per_class=2)
    assert check_layout(pair) == "split"
    task = Task(pair, classes=(0, 2), image_size=8, channels=1)
    data = task.load()
    assert (len(data.train), len(data.test)) == (12, 4) and data.num_classes == 2
    assert task.dataset.startswith("pair@")


def test_registered_names_keep_their_keys():
    # the committed store's tasks were keyed before paths existed
    with RecordStore(default_store_path(), readonly=True) as store:
        tasks = store.tasks()
        rows = store._conn.execute("SELECT task_key, spec FROM tasks ORDER BY rowid").fetchall()
    assert len(tasks) == len(rows) > 0
    for task, row in zip(tasks, rows, strict=True):
        assert task.path is None and "path" not in task.to_dict()
        assert task.key == row["task_key"] and task.to_json() == row["spec"]
    spec = (
        '{"channels":3,"classes":[0,1],"dataset":"digits","image_size":32,"seed":0,'
        '"test_per_class":null,"train_per_class":null}'
    )
    task = Task("digits", classes=(0, 1))
    assert task.to_json() == spec
    assert task.key == "digits-2way-" + hashlib.sha1(spec.encode()).hexdigest()[:12]


def test_bad_paths(tmp_path, digits):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"is a \.txt file; expected an \.npz file"):
        Task(str(text), classes=(0, 1))
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.png").write_bytes(b"")
    with pytest.raises(ValueError, match="neither layout: it holds 1 files and no sub-folders"):
        load_path(flat)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="neither layout: it is empty"):
        load_dataset(str(empty))
    with pytest.raises(
        KeyError, match=r"unknown dataset 'nowhere'; valid names: .*or give the path"
    ):
        Task("nowhere", classes=(0, 1))
    with pytest.raises(ValueError, match="give path= as well"):
        Task("digits.npz@0123456789ab", classes=(0, 1))
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    with pytest.raises(ValueError, match=r"is not a NumPy \.npz archive"):
        Task(str(junk), classes=(0, 1)).load()
    few = write_folder(tmp_path / "few", digits.train, per_class=1)
    with pytest.raises(ValueError, match="cannot be split into train and test"):
        load_path(few)
