import pytest
import torch

from dassgnn.encoders import GramEncoder, NoiseSpec, functional_maps, gram, gram_similarity
from dassgnn.space import ResNetSpace
from dassgnn.space.checks import _perturb_batchnorm


def test_noise_is_a_fixed_constant():
    spec = NoiseSpec(seed=3, num=4, size=8)
    assert torch.equal(spec.make(1), spec.make(1)) and spec.make(3).shape == (4, 3, 8, 8)
    assert spec.to_dict() == {"seed": 3, "num": 4, "size": 8, "version": 1}
    with pytest.raises(ValueError, match="num must be >= 2"):
        NoiseSpec(num=1)


def test_gram_is_channel_count_free():
    f = torch.randn(5, 7, 2, 2)
    g = gram(f)
    assert g.shape == (5, 5) and torch.allclose(g.diagonal(), torch.ones(5), atol=1e-6)
    padded = torch.cat([f, torch.zeros(5, 9, 2, 2)], dim=1)  # zero channels change nothing
    assert torch.allclose(gram(padded), g, atol=1e-6)
    many = torch.stack([f, padded[:, :7]], dim=1)  # (N, P, C, h, w)
    assert torch.allclose(gram(many), torch.stack([g, g]), atol=1e-6)


@pytest.mark.parametrize("widths", [(8, 16), (6, 12)])
def test_batched_maps_equal_remapped_students(widths):
    space = ResNetSpace(widths=widths, depths=(2, 2), strides=(1, 2))
    teacher = space.build(space.teacher, 4, 1, seed=0)
    _perturb_batchnorm(teacher, 0)
    archs = [space.teacher, *space.sample(6, seed=1)]
    noise = NoiseSpec(num=6, size=8)
    fast = functional_maps(space, teacher, archs, noise, chunk=3)
    slow = functional_maps(space, teacher, archs, noise, batched=False)
    assert fast.shape == (7, 6, 6)
    assert torch.allclose(fast, slow, atol=1e-5)
    sim = gram_similarity(fast, fast[0])
    assert sim[0] == pytest.approx(1.0) and bool((sim <= 1 + 1e-6).all())


def test_gram_encoder():
    enc = GramEncoder(12, 4)
    assert enc(torch.randn(3, 8, 8)).shape == (3, 12) and str(enc) == "GramEncoder(1, 12)"
