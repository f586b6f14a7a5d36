import dataclasses
import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from dassgnn.data import DatasetSplits, ImageDataset, stratified_split


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    bunch = load_digits()
    images = (bunch.images * 255 / 16).round().astype(np.uint8)[..., None]
    return ImageDataset(images, bunch.target.astype(np.uint8), tuple("0123456789"), "digits")


def test_properties_on_real_digits(digits):
    assert len(digits) == 1797
    assert digits.num_classes == 10
    assert digits.image_size == (8, 8)
    assert digits.channels == 1
    assert digits.labels.dtype == np.int64  # converted from uint8
    counts = digits.class_counts()
    assert counts.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert repr(digits) == "ImageDataset(name='digits', n=1797, size=8x8x1, classes=10)"


def test_arrays_are_read_only_views(digits):
    images = np.zeros((4, 2, 2, 3), dtype=np.uint8)
    ds = ImageDataset(images, np.array([0, 1, 0, 1]), ("a", "b"))
    assert images.flags.writeable  # the caller's array is untouched
    with pytest.raises(ValueError, match="read-only"):
        ds.images[0] = 1
    with pytest.raises(ValueError, match="read-only"):
        digits.labels[0] = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        digits.name = "other"
    copy = pickle.loads(pickle.dumps(digits))
    np.testing.assert_array_equal(copy.images, digits.images)
    assert not copy.images.flags.writeable and copy.name == "digits"


def test_subset_by_indices_and_mask(digits):
    sub = digits.subset([5, 0, 1796])
    assert len(sub) == 3
    np.testing.assert_array_equal(sub.images, digits.images[[5, 0, 1796]])
    assert sub.classes == digits.classes
    mask = digits.labels < 2
    assert len(digits.subset(mask)) == 178 + 182


@pytest.mark.parametrize(
    ("indices", "error", "match"),
    [
        ([0, 1797], ValueError, r"indices must lie in \[0, 1797\), got 1797"),
        ([-1, 2], ValueError, "got -1"),
        ([], ValueError, "indices is empty"),
        ([0.0, 1.0], TypeError, "float64"),
        (np.ones(3, dtype=bool), ValueError, r"shape \(1797,\)"),
    ],
)
def test_subset_errors(digits, indices, error, match):
    with pytest.raises(error, match=match):
        digits.subset(indices)


def test_subset_of_one_class_is_an_error(digits):
    with pytest.raises(ValueError, match=r"single-class: only class 3 \('3'\)"):
        digits.subset(np.flatnonzero(digits.labels == 3)[:5])


def test_select_classes_relabels_in_given_order(digits):
    sel = digits.select_classes([7, 2])
    assert sel.classes == ("7", "2")
    assert sel.class_counts().tolist() == [179, 177]
    keep = np.isin(digits.labels, [7, 2])
    np.testing.assert_array_equal(sel.images, digits.images[keep])
    np.testing.assert_array_equal(sel.labels, np.where(digits.labels[keep] == 7, 0, 1))


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        ([1, 1, 2], r"duplicates \[1\]"),
        ([0, 10], r"must lie in \[0, 10\), got 10"),
        ([-1, 3], "got -1"),
        ([4], "at least 2 classes, got 1"),
    ],
)
def test_select_classes_errors(digits, ids, match):
    with pytest.raises(ValueError, match=match):
        digits.select_classes(ids)


def test_select_classes_rejects_float_ids(digits):
    with pytest.raises(TypeError, match="float64"):
        digits.select_classes([0.0, 1.0])


def test_tensors_layout_and_independence(digits):
    x, y = digits.tensors()
    assert x.shape == (1797, 1, 8, 8)
    assert x.dtype == torch.uint8
    assert y.dtype == torch.int64
    assert torch.equal(x[10, 0], torch.from_numpy(np.array(digits.images[10, :, :, 0])))
    x[0] = 7  # a copy: the dataset must not change
    assert not (digits.images[0] == 7).all()
    rgb = ImageDataset(
        np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3), np.array([0, 1]), ("a", "b")
    )
    xr, _ = rgb.tensors()
    assert xr[1, 2, 0, 1].item() == rgb.images[1, 0, 1, 2]


def _make(images=None, labels=None, classes=("a", "b")):
    images = np.zeros((4, 3, 3, 1), np.uint8) if images is None else images
    labels = np.array([0, 1, 0, 1]) if labels is None else labels
    return ImageDataset(images, labels, classes, "bad")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"images": [[0]]}, TypeError, "images must be a numpy.ndarray, got list"),
        ({"images": np.zeros((4, 3, 3, 1), np.float32)}, TypeError, "images .*got float32"),
        ({"images": np.zeros((4, 3, 3), np.uint8)}, ValueError, r"got shape \(4, 3, 3\)"),
        ({"images": np.zeros((4, 3, 3, 2), np.uint8)}, ValueError, r"got shape \(4, 3, 3, 2\)"),
        ({"images": np.zeros((0, 3, 3, 1), np.uint8)}, ValueError, "images is empty"),
        ({"labels": np.array([0.0, 1.0, 0.0, 1.0])}, TypeError, "labels .*got float64"),
        ({"labels": [0, 1, 0, 1]}, TypeError, "labels must be a numpy.ndarray, got list"),
        ({"labels": np.array([0, 1, 0])}, ValueError, r"shape \(4,\) .*got shape \(3,\)"),
        ({"labels": np.array([0, 1, 2, 1])}, ValueError, "got label 2"),
        ({"labels": np.array([0, -1, 0, 1])}, ValueError, "got label -1"),
        ({"labels": np.array([1, 1, 1, 1])}, ValueError, "single-class: only class 1"),
        ({"classes": ("a", "a")}, ValueError, r"duplicate names \['a'\]"),
        ({"classes": ("a", 2)}, TypeError, "classes must hold str, got int"),
        ({"classes": "ab"}, TypeError, "classes must be a sequence of str"),
    ],
)
def test_constructor_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        _make(**kwargs)


def test_splits_validate_classes_and_shapes(digits):
    half = digits.subset(np.arange(100))
    splits = DatasetSplits(half, digits.subset(np.arange(100, 200)))
    assert splits.num_classes == 10 and splits.image_size == (8, 8) and splits.channels == 1
    assert splits.map(lambda d: d.subset(np.arange(50))).train.images.shape == (50, 8, 8, 1)
    other = ImageDataset(half.images, half.labels, tuple("abcdefghij"), "x")
    with pytest.raises(ValueError, match="same classes"):
        DatasetSplits(half, other)
    rgb = ImageDataset(np.repeat(half.images, 3, axis=3), half.labels, half.classes)
    with pytest.raises(ValueError, match=r"same image shape .*\(8, 8, 1\) and \(8, 8, 3\)"):
        DatasetSplits(half, rgb)
    with pytest.raises(TypeError, match="test must be an ImageDataset, got ndarray"):
        DatasetSplits(half, half.images)


def test_stratified_split_counts_and_determinism(digits):
    a = stratified_split(digits, 0.2, seed=0)
    assert (len(a.train), len(a.test)) == (1437, 360)
    # Each class keeps its share to within one image.
    expected = digits.class_counts() * 0.2
    assert np.all(np.abs(a.test.class_counts() - expected) <= 1)
    b = stratified_split(digits, 0.2, seed=0)
    c = stratified_split(digits, 0.2, seed=1)
    np.testing.assert_array_equal(a.test.images, b.test.images)
    assert not np.array_equal(a.test.images, c.test.images)
    with pytest.raises(ValueError, match=r"test_fraction must lie in \(0, 1\), got 1.5"):
        stratified_split(digits, 1.5)
