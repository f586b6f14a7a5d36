import pytest
import torch

from dassgnn.encoders import ConvFeatures, DatasetEncoder, sample_per_class, standardize


def test_sample_per_class_is_reproducible_and_sorted(digits16):
    x, y = sample_per_class(digits16, 4, seed=1)
    assert x.shape == (20, 1, 16, 16) and x.dtype == torch.uint8
    assert y.tolist() == sorted(y.tolist()) and torch.bincount(y).tolist() == [4] * 5
    x2, _ = sample_per_class(digits16, 4, seed=1)
    assert torch.equal(x, x2) and not torch.equal(x, sample_per_class(digits16, 4, seed=2)[0])
    z = standardize(x)
    assert z.shape == (20, 3, 16, 16) and abs(float(z.mean())) < 1e-5


def test_fixed_features_do_not_depend_on_the_global_seed(digits16):
    x, _ = sample_per_class(digits16, 2)
    torch.manual_seed(123)
    a = ConvFeatures(16, seed=3)(standardize(x))
    torch.manual_seed(7)
    b = ConvFeatures(16, seed=3)(standardize(x))
    assert a.shape == (10, 16) and torch.equal(a, b)
    assert not any(p.requires_grad for p in ConvFeatures(16).parameters())
    assert all(p.requires_grad for p in ConvFeatures(16, trainable=True).parameters())
    assert str(ConvFeatures(16, seed=3)) == "ConvFeatures(3, 16, trainable=False, seed=3)"


def test_dataset_encoder_is_invariant_to_image_and_class_order(digits16):
    torch.manual_seed(0)
    x, y = sample_per_class(digits16, 6)
    feats = ConvFeatures(16)(standardize(x))
    enc = DatasetEncoder(16, 32, 8, heads=2).eval()
    assert str(enc) == "DatasetEncoder(16, 8, heads=2)"
    out = enc(feats, y)
    assert out.shape == (1, 8)
    # shuffle the images within each class
    perm = torch.cat([torch.nonzero(y == k).flatten().flip(0) for k in range(5)])
    assert torch.allclose(enc(feats[perm], y[perm]), out, atol=1e-5)
    # relabel the classes in another order (the blocks move, labels stay sorted)
    order = [3, 0, 4, 1, 2]
    idx = torch.cat([torch.nonzero(y == k).flatten() for k in order])
    relabelled = torch.repeat_interleave(torch.arange(5), 6)
    assert torch.allclose(enc(feats[idx], relabelled), out, atol=1e-5)
    # any number of classes, 2 to 200+
    many = torch.randn(2 * 230, 16)
    labels = torch.arange(230).repeat_interleave(2)
    assert enc(many, labels).shape == (1, 8)
    assert enc(many[:4], labels[:4]).shape == (1, 8)
    with pytest.raises(ValueError, match="sorted ascending"):
        enc(feats, y.flip(0))
