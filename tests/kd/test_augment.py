import torch

from dassgnn.kd import channel_stats, normalize, random_crop, random_hflip


def test_random_crop_shifts_images():
    x = torch.arange(2 * 1 * 5 * 5, dtype=torch.uint8).view(2, 1, 5, 5)
    g = torch.Generator().manual_seed(0)
    out = random_crop(x, 2, g)
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert random_crop(x, 0, g) is x
    # every crop is a window of the zero-padded image
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, r : r + 5, c : c + 5] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_random_crop_is_seeded():
    x = torch.randint(0, 255, (16, 3, 8, 8), dtype=torch.uint8)
    a = random_crop(x, 4, torch.Generator().manual_seed(1))
    b = random_crop(x, 4, torch.Generator().manual_seed(1))
    c = random_crop(x, 4, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_hflip():
    x = torch.randint(0, 255, (64, 1, 4, 4), dtype=torch.uint8)
    out = random_hflip(x, torch.Generator().manual_seed(0))
    pairs = list(zip(out, x, strict=True))
    flipped = [torch.equal(o, xi.flip(-1)) and not torch.equal(o, xi) for o, xi in pairs]
    kept = [torch.equal(o, xi) for o, xi in pairs]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 16 < sum(flipped) < 48


def test_normalize_standardises():
    x = torch.randint(0, 255, (100, 3, 6, 6), dtype=torch.uint8)
    mean, std = channel_stats(x)
    z = normalize(x, mean, std)
    assert z.dtype == torch.float32
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-4)
