from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from dassgnn.data import (
    DatasetSplits,
    ImageDataset,
    load_dataset,
    luminance,
    prepare,
    resize,
    to_channels,
)


@pytest.fixture(scope="module")
def mnist() -> DatasetSplits:
    return load_dataset("mnist5k")


@pytest.fixture(scope="module")
def astronaut() -> ImageDataset:
    """Real colour data: the 512x512 astronaut photo cut into 64 tiles of 64x64."""
    skdata = pytest.importorskip("skimage.data")
    with Image.open(Path(skdata.__file__).parent / "astronaut.png") as im:
        rgb = np.asarray(im.convert("RGB"))
    tiles = rgb.reshape(8, 64, 8, 64, 3).transpose(0, 2, 1, 3, 4).reshape(64, 64, 64, 3)
    labels = np.arange(64) % 2
    return ImageDataset(np.ascontiguousarray(tiles), labels, ("even", "odd"), "astronaut")


def test_resize_shape_dtype_and_mean(mnist):
    test = mnist.test
    up = resize(test, 32)
    down = resize(test, 14)
    assert up.images.shape == (1000, 32, 32, 1) and down.images.shape == (1000, 14, 14, 1)
    assert up.images.dtype == np.uint8 and down.images.dtype == np.uint8
    np.testing.assert_array_equal(up.labels, test.labels)
    assert up.classes == test.classes and up.name == "mnist5k"
    mean = test.images.mean(axis=(1, 2, 3))
    # Antialiased bilinear resizing keeps each image's mean brightness.
    assert np.abs(down.images.mean(axis=(1, 2, 3)) - mean).max() < 2.0
    assert np.abs(up.images.mean(axis=(1, 2, 3)) - mean).max() < 4.0
    assert np.abs(up.images.mean() - test.images.mean()) < 1.0


def test_resize_matches_torch_antialiased_bilinear(mnist):
    sub = mnist.test.subset(np.arange(0, 1000, 50))
    x = torch.from_numpy(np.array(sub.images.transpose(0, 3, 1, 2), dtype=np.float32))
    ref = F.interpolate(x, size=(11, 11), mode="bilinear", align_corners=False, antialias=True)
    ref = ref.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(resize(sub, 11).images, ref)


def test_resize_noop_returns_same_object(mnist):
    assert resize(mnist.test, 28) is mnist.test
    assert resize(mnist, 28) is mnist


def test_grey_to_rgb_to_grey_is_exact(mnist):
    rgb = to_channels(mnist.test, 3)
    assert rgb.images.shape == (1000, 28, 28, 3)
    np.testing.assert_array_equal(rgb.images[..., 0], rgb.images[..., 2])
    back = to_channels(rgb, 1)
    np.testing.assert_array_equal(back.images, mnist.test.images)


def test_rgb_to_grey_uses_bt601_luminance(astronaut):
    grey = to_channels(astronaut, 1)
    assert grey.images.shape == (64, 64, 64, 1)
    rgb = astronaut.images.astype(np.float64)
    expected = np.rint(0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])
    assert np.abs(grey.images[..., 0].astype(np.int64) - expected).max() <= 1
    pure = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], np.uint8)
    assert luminance(pure)[:, 0].tolist() == [76, 150, 29, 255]


def test_prepare_does_only_what_is_needed(mnist, astronaut):
    assert prepare(mnist, 28, 1) is mnist
    assert prepare(mnist) is mnist
    out = prepare(mnist, 32, 3)
    assert isinstance(out, DatasetSplits)
    assert out.train.images.shape == (4000, 32, 32, 3)
    grey_small = prepare(astronaut, 16, 1)
    assert grey_small.images.shape == (64, 16, 16, 1)
    # Channel conversion and resizing commute up to rounding.
    other = to_channels(resize(astronaut, 16), 1)
    assert np.abs(grey_small.images.astype(int) - other.images.astype(int)).max() <= 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": 0}, ValueError, "size must be >= 1, got 0"),
        ({"size": 2.5}, TypeError, "size must be an int, got float 2.5"),
        ({"size": True}, TypeError, "size must be an int, got bool"),
        ({"channels": 2}, ValueError, "channels must be 1 or 3, got 2"),
        ({"channels": "3"}, TypeError, "channels must be an int, got str"),
    ],
)
def test_prepare_rejects_bad_arguments(mnist, kwargs, error, match):
    with pytest.raises(error, match=match):
        prepare(mnist.test, **kwargs)


def test_transforms_reject_other_types():
    with pytest.raises(TypeError, match="dataset must be an ImageDataset or DatasetSplits"):
        resize(np.zeros((2, 4, 4, 1), np.uint8), 8)
    with pytest.raises(ValueError, match=r"3 channels last, got shape \(2, 2\)"):
        luminance(np.zeros((2, 2), np.uint8))
