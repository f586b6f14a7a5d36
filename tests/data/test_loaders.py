import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dassgnn.data import (
    META_TEST_ONLY,
    DatasetSplits,
    ImageDataset,
    data_dir,
    from_arrays,
    from_folder,
    from_npz,
    from_torchvision,
    list_datasets,
    load_dataset,
)


@pytest.fixture(scope="module")
def digits() -> DatasetSplits:
    return load_dataset("digits")


# ----------------------------------------------------------------------------- npz


@pytest.mark.shared_data
def test_from_npz_usps(shared_data):
    splits = from_npz(shared_data / "usps.npz")
    assert (len(splits.train), len(splits.test)) == (7291, 2007)
    assert splits.train.images.shape[1:] == (16, 16, 1)
    assert splits.name == "usps"
    assert splits.classes == tuple(str(i) for i in range(10))
    assert splits.train.class_counts()[:2].tolist() == [1194, 1005]
    assert splits.train.class_counts().min() == 542


@pytest.mark.shared_data
def test_from_npz_is_cached_and_read_only(shared_data):
    a = from_npz(shared_data / "omniglot_small1.npz")
    b = from_npz(shared_data / "omniglot_small1.npz")
    assert np.shares_memory(a.train.images, b.train.images)  # read once
    assert a.num_classes == 136
    assert a.train.class_counts().tolist() == [15] * 136
    assert a.test.class_counts().tolist() == [5] * 136
    assert a.image_size == (32, 32) and a.channels == 1
    with pytest.raises(ValueError, match="read-only"):
        a.train.images[0, 0, 0, 0] = 1
    with pytest.raises(ValueError, match="read-only"):
        b.test.labels[0] = 1


@pytest.mark.shared_data
def test_load_dataset_uses_the_env_setting(shared_data):
    assert Path(os.environ["DASSGNN_DATA"]) == shared_data
    assert data_dir() == shared_data
    splits = load_dataset("usps")
    assert len(splits.test) == 2007


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "sizes", "shape", "classes", "first_class"),
    [
        ("medical_mnist", (3600, 1200), (32, 32, 1), 6, "AbdomenCT"),
        ("fer2013", (2800, 955), (48, 48, 1), 7, "angry"),
        ("simpsons_mnist", (3000, 1000), (28, 28, 3), 10, None),
        ("chinese_mnist", (11250, 3750), (64, 64, 1), 15, None),
        ("blood_cells", (3600, 1200), (32, 32, 3), 8, "basophil"),
    ],
)
def test_new_domains_load_by_name(shared_data, name, sizes, shape, classes, first_class):
    splits = load_dataset(name)
    assert (len(splits.train), len(splits.test)) == sizes
    assert splits.train.images.shape[1:] == shape and splits.train.images.dtype == np.uint8
    assert splits.num_classes == classes and splits.name == name
    assert sorted(set(splits.test.labels.tolist())) == list(range(classes))
    if first_class is not None:
        assert splits.classes[0].lower() == first_class.lower()


def _write_npz(path: Path, digits: DatasetSplits, **drop: bool) -> None:
    arrays = {
        "x_train": np.asarray(digits.train.images[:50]),
        "y_train": np.asarray(digits.train.labels[:50]),
        "x_test": np.asarray(digits.test.images[:20]),
        "y_test": np.asarray(digits.test.labels[:20]),
        "classes": np.array(digits.classes),
    }
    np.savez(path, **{k: v for k, v in arrays.items() if not drop.get(k)})


def test_from_npz_roundtrip_and_reload_on_change(tmp_path, digits):
    path = tmp_path / "mini.npz"
    _write_npz(path, digits)
    splits = from_npz(path, name="mini")
    assert (len(splits.train), len(splits.test), splits.name) == (50, 20, "mini")
    np.testing.assert_array_equal(splits.train.images, digits.train.images[:50])
    # A rewritten file is read again, not served stale from the cache.
    arrays = dict(np.load(path))
    arrays["x_train"] = 255 - arrays["x_train"]
    np.savez(path, **arrays)
    os.utime(path, ns=(1, 1))
    again = from_npz(path)
    np.testing.assert_array_equal(again.train.images, 255 - digits.train.images[:50])


def test_from_npz_errors(tmp_path, digits):
    with pytest.raises(FileNotFoundError, match=r"no .npz file at path .*nothing\.npz"):
        from_npz(tmp_path / "nothing.npz")
    path = tmp_path / "partial.npz"
    _write_npz(path, digits, x_test=True, classes=True)
    with pytest.raises(ValueError, match=r"lacks the keys \['x_test', 'classes'\]"):
        from_npz(path)
    bad = tmp_path / "bad.npz"
    _write_npz(bad, digits)
    arrays = dict(np.load(bad))
    arrays["y_test"] = arrays["y_test"] + 10
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=r"x_test/y_test: labels must lie in \[0, 10\)"):
        from_npz(bad)
    text = tmp_path / "text.npz"
    text.write_text("x_train,y_train\n1,2\n")
    with pytest.raises(ValueError, match=r"text\.npz' is not a NumPy \.npz archive \(not a zip"):
        from_npz(text)
    array = tmp_path / "array.npz"
    with open(array, "wb") as fh:
        np.save(fh, np.arange(3))
    with pytest.raises(ValueError, match=r"not a NumPy \.npz archive \(a NumPy \.npy array\)"):
        from_npz(array)


# ----------------------------------------------------------------- data dir / names


def test_data_dir_setting(tmp_path, monkeypatch):
    assert data_dir(tmp_path) == tmp_path
    monkeypatch.setenv("DASSGNN_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv("DASSGNN_DATA")
    import dassgnn.data.catalog as catalog

    beside = catalog.checkout_data_dir()
    assert beside.parts[-2:] == ("shared", "datasets")
    assert beside.parent.parent == Path(catalog.__file__).resolve().parents[2].parent
    if beside.is_dir():  # a checkout beside the shared datasets finds them unconfigured
        assert data_dir() == beside
    monkeypatch.setattr(catalog, "checkout_data_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"set the DASSGNN_DATA environment variable .*--data"):
        data_dir()
    with pytest.raises(ValueError, match="DASSGNN_DATA"):
        load_dataset("cifar10")
    with pytest.raises(FileNotFoundError, match=r"missing.*\(from root\) does not exist"):
        data_dir(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"cifar10\.npz"):
        load_dataset("cifar10", root=tmp_path)


def test_registry_names():
    names = list_datasets()
    for name in ("cifar10", "fashion_mnist", "usps", "omniglot_small1", "omniglot_small2"):
        assert name in names
    for name in ("medical_mnist", "fer2013", "simpsons_mnist", "chinese_mnist", "blood_cells"):
        assert name in names
    assert set(META_TEST_ONLY) == {"fer2013", "blood_cells"} and set(META_TEST_ONLY) <= set(names)
    assert {"mnist5k", "digits", "skimage_textures"} <= set(names)
    assert list_datasets("omniglot*") == ["omniglot_small1", "omniglot_small2"]
    with pytest.raises(
        KeyError,
        match="unknown dataset 'cifar100'; valid names: blood_cells, chinese_mnist, cifar10, ",
    ):
        load_dataset("cifar100")


# --------------------------------------------------------------------------- arrays


def test_from_arrays_layouts(digits):
    grey = np.asarray(digits.test.images[..., 0])  # (N, H, W)
    y = digits.test.labels.astype(np.int16)
    nhw = from_arrays(grey, y)
    assert nhw.images.shape == (360, 8, 8, 1)
    assert nhw.classes == tuple(str(i) for i in range(10)) and nhw.name == "arrays"
    np.testing.assert_array_equal(nhw.images, digits.test.images)
    rgb = np.repeat(digits.test.images, 3, axis=3)
    nhwc = from_arrays(rgb, y, digits.classes, name="rgb")
    nchw = from_arrays(torch.from_numpy(rgb.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y))
    np.testing.assert_array_equal(nhwc.images, nchw.images)
    assert nhwc.channels == 3 and nhwc.name == "rgb"
    # (N, 3, 3, 3) is ambiguous: channels last wins unless layout says otherwise.
    cube = np.arange(2 * 27, dtype=np.uint8).reshape(2, 3, 3, 3)
    forced = from_arrays(cube, [0, 1], layout="NCHW")
    np.testing.assert_array_equal(forced.images, cube.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(from_arrays(cube, [0, 1]).images, cube)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "error", "match"),
    [
        (np.zeros((2, 4, 4), np.float32), [0, 1], {}, TypeError, r"uint8, got float32.*astype"),
        ([[0]], [0, 1], {}, TypeError, "x must be a numpy.ndarray or torch.Tensor, got list"),
        (np.zeros((2, 4, 4, 2), np.uint8), [0, 1], {}, ValueError, r"got shape \(2, 4, 4, 2\)"),
        (np.zeros((2, 4, 4, 1), np.uint8), [0.0, 1.0], {}, TypeError, "y .*got float64"),
        (np.zeros((2, 4, 4), np.uint8), [0, 1], {"layout": "NCHW"}, ValueError, "4-D"),
        (np.zeros((2, 4, 4), np.uint8), [0, 1], {"layout": "CHW"}, ValueError, "'CHW'"),
        (np.zeros((2, 4, 4), np.uint8), [0, 1], {"classes": ["a"]}, ValueError, "got label 1"),
    ],
)
def test_from_arrays_errors(x, y, kwargs, error, match):
    with pytest.raises(error, match=match):
        from_arrays(x, y, **kwargs)


# --------------------------------------------------------------------------- folder


def _write_tree(root: Path, ds: ImageDataset, classes: list[int], per_class: int) -> None:
    for c in classes:
        folder = root / f"digit_{c}"
        folder.mkdir(parents=True)
        for j, i in enumerate(np.flatnonzero(ds.labels == c)[:per_class]):
            Image.fromarray(ds.images[i, :, :, 0]).save(folder / f"{j:03d}.png")


def test_from_folder_reads_real_digits(tmp_path, digits):
    _write_tree(tmp_path / "set", digits.test, [3, 1, 8], 4)
    (tmp_path / "set" / "digit_1" / "notes.txt").write_text("not an image")
    ds = from_folder(tmp_path / "set")
    assert isinstance(ds, ImageDataset)
    assert ds.classes == ("digit_1", "digit_3", "digit_8")  # sorted by name
    assert ds.name == "set" and ds.images.shape == (12, 8, 8, 1)
    assert ds.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    expected = digits.test.images[np.flatnonzero(digits.test.labels == 3)[:4]]
    np.testing.assert_array_equal(ds.images[4:8], expected)  # PNG is lossless


def test_from_folder_train_test_layout_and_resize(tmp_path, digits):
    _write_tree(tmp_path / "train", digits.train, [0, 5], 3)
    _write_tree(tmp_path / "test", digits.test, [0, 5], 2)
    splits = from_folder(tmp_path, size=16, name="tiny")
    assert isinstance(splits, DatasetSplits)
    assert (len(splits.train), len(splits.test)) == (6, 4)
    assert splits.image_size == (16, 16) and splits.name == "tiny"


def test_from_folder_colour_files(tmp_path):
    skdata = pytest.importorskip("skimage.data")
    with Image.open(Path(skdata.__file__).parent / "chelsea.png") as im:
        rgb = np.asarray(im.convert("RGB"))[:64, :128]
    for k, name in enumerate(["left", "right"]):
        (tmp_path / name).mkdir()
        Image.fromarray(rgb[:, 64 * k : 64 * (k + 1)]).save(tmp_path / name / "a.png")
        Image.fromarray(rgb[:32, 64 * k : 64 * k + 32]).convert("L").save(tmp_path / name / "b.png")
    ds = from_folder(tmp_path, size=32)
    assert ds.channels == 3 and ds.images.shape == (4, 32, 32, 3)
    grey = from_folder(tmp_path, size=32, channels=1)
    assert grey.channels == 1
    np.testing.assert_array_equal(ds.images[1, ..., 0], ds.images[1, ..., 2])  # grey file


def test_from_folder_errors(tmp_path, digits):
    with pytest.raises(FileNotFoundError, match=r"root folder .*nowhere.* does not exist"):
        from_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"folder .*empty.* has no class sub-folders"):
        from_folder(tmp_path / "empty")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="is not a folder"):
        from_folder(tmp_path / "file.png")
    _write_tree(tmp_path / "mixed", digits.test, [0, 1], 2)
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(tmp_path / "mixed" / "digit_1" / "zz.png")
    with pytest.raises(
        ValueError, match=r"zz\.png' has size 9x8 but .*000\.png' has 8x8; pass size="
    ):
        from_folder(tmp_path / "mixed")
    _write_tree(tmp_path / "corrupt", digits.test, [0, 1], 1)
    (tmp_path / "corrupt" / "digit_0" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read image file .*broken\.png"):
        from_folder(tmp_path / "corrupt")
    _write_tree(tmp_path / "noimg", digits.test, [0], 1)
    (tmp_path / "noimg" / "digit_1").mkdir()
    with pytest.raises(ValueError, match=r"class folder .*digit_1.* has no image files"):
        from_folder(tmp_path / "noimg")
    _write_tree(tmp_path / "split" / "train", digits.train, [0, 1], 1)
    _write_tree(tmp_path / "split" / "test", digits.test, [0, 2], 1)
    with pytest.raises(ValueError, match=r"differ: \['digit_1', 'digit_2'\]"):
        from_folder(tmp_path / "split")


# ---------------------------------------------------------------------- torchvision


class ArrayStandIn:
    """Has ``data``/``targets``/``classes`` like torchvision's MNIST and CIFAR10."""

    def __init__(self, data, targets, classes):
        self.data, self.targets, self.classes = data, targets, classes

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):  # pragma: no cover - the fast path must not iterate
        raise AssertionError("the fast path must not iterate")


class ItemStandIn:
    """Only ``__len__``/``__getitem__`` like a generic torchvision dataset."""

    def __init__(self, items, classes=None):
        self.items = items
        if classes is not None:
            self.classes = classes

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_from_torchvision_fast_path(digits):
    test = digits.test
    mnist_like = ArrayStandIn(
        torch.from_numpy(np.array(test.images[..., 0])),
        torch.from_numpy(np.array(test.labels)),
        test.classes,
    )
    ds = from_torchvision(mnist_like)
    assert ds.name == "arraystandin" and len(ds) == 360
    np.testing.assert_array_equal(ds.images, test.images)
    cifar_like = ArrayStandIn(np.repeat(test.images, 3, axis=3), test.labels.tolist(), test.classes)
    ds3 = from_torchvision(cifar_like, name="c", size=16)
    assert ds3.images.shape == (360, 16, 16, 3) and ds3.classes == test.classes


def test_from_torchvision_iterate_path(digits):
    test = digits.test.subset(np.arange(30))
    pil_items = [
        (Image.fromarray(img[..., 0]), int(y))
        for img, y in zip(test.images, test.labels, strict=True)
    ]
    ds = from_torchvision(ItemStandIn(pil_items, classes=list(test.classes)), name="pil")
    np.testing.assert_array_equal(ds.images, test.images)
    np.testing.assert_array_equal(ds.labels, test.labels)
    assert ds.classes == test.classes
    chw = [
        (torch.from_numpy(np.repeat(img, 3, axis=2).transpose(2, 0, 1).copy()), torch.tensor(y))
        for img, y in zip(test.images, test.labels, strict=True)
    ]
    ds_chw = from_torchvision(ItemStandIn(chw))
    assert ds_chw.images.shape == (30, 8, 8, 3)
    np.testing.assert_array_equal(ds_chw.images[..., 1:2], test.images)
    assert ds_chw.classes == tuple(str(i) for i in range(int(test.labels.max()) + 1))


def test_from_torchvision_errors(digits):
    img = np.asarray(digits.test.images[0])
    with pytest.raises(TypeError, match=r"ds\[0\]\[0\] is a float32 Tensor.*ToTensor"):
        from_torchvision(ItemStandIn([(torch.rand(1, 8, 8), 0), (torch.rand(1, 8, 8), 1)]))
    with pytest.raises(TypeError, match=r"ds\[0\] must be an \(image, label\) pair, got ndarray"):
        from_torchvision(ItemStandIn([img]))
    with pytest.raises(TypeError, match=r"ds\[1\]\[1\] must be an integer label, got float"):
        from_torchvision(ItemStandIn([(img, 0), (img, 1.0)]))
    with pytest.raises(ValueError, match="ds is empty"):
        from_torchvision(ItemStandIn([]))
    with pytest.raises(ValueError, match=r"ds\[1\] has size 4x4 but ds\[0\] has 8x8"):
        from_torchvision(ItemStandIn([(img, 0), (img[:4, :4], 1)]))
