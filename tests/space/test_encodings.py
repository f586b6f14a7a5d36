"""The encodings a space brings (flat choice vector, genotype, smallest member) and what it
reads off a trained network. Known values: they equal those of the code they replaced
(``encoders.flat_encoding``, ``search.evolution.ArchCodec`` and ``search.setup._smallest`` read
ResNet spaces directly), checked on 200 archs of several settings when they moved."""

import numpy as np
import pytest
import torch
from torch import nn

import tests.space.toy_space  # noqa: F401  (registers "toy_plain")
from dassgnn.encoders import flat_encoding
from dassgnn.space import (
    Arch,
    ResNetSpace,
    TorchvisionResNetSpace,
    UnsupportedModuleError,
    classifier_head,
    classifier_shape,
    create_space,
    state_dict_shape,
)

RESNET = ResNetSpace()
TV34 = TorchvisionResNetSpace(widths=(16, 32, 64, 128), depths=(3, 4, 6, 3), stem_width=16)


def test_flat_encoding_known_values():
    v = RESNET.flat_encoding(RESNET.parse("1,3,2|8|16,12,8|10,9"))
    assert v.shape == (RESNET.flat_size,) == (48,) and v.dtype == torch.float32
    rows = v.view(6, 8)
    assert rows[0, :3].tolist() == pytest.approx([1.0, 1 / 3, 0.5])
    assert rows[1, :5].tolist() == [1.0, 1.0, 1.0, 0.75, 0.5]
    assert rows[2, :4].tolist() == pytest.approx([1.0, 2 / 3, 0.625, 0.5625])
    assert rows[3:].abs().sum() == 0 and rows[0, 3:].abs().sum() == 0
    arch = TV34.parse("1,2,6,1|16|8,12|16,15,14,13,12,11|9")
    rows = TV34.flat_encoding(arch).view(6, 8)
    assert rows[2].tolist() == [1.0, 1.0, 1.0, 0.9375, 0.875, 0.8125, 0.75, 0.6875]
    assert rows[3, :3].tolist() == pytest.approx([1.0, 1 / 3, 0.5625])
    for space in (RESNET, TV34):  # the encoders' function gives the space's vector
        for a in space.sample(20, seed=0):
            assert torch.equal(space.flat_encoding(a), flat_encoding(a, space.teacher))


def test_flat_encoding_refuses_what_it_would_cut_off():
    deep = ResNetSpace(widths=(8, 16), depths=(7, 2), strides=(1, 2))
    assert deep.flat_encoding(deep.parse("6,2|8,8,8,8,8,8|16,16")).shape == (48,)
    with pytest.raises(ValueError, match="at most 6 stages of 6 blocks"):
        deep.flat_encoding(deep.teacher)
    wide = ResNetSpace(widths=(8,) * 7, depths=(1,) * 7, strides=(1,) * 7)
    with pytest.raises(ValueError, match=r"has 7 stages of up to 1 blocks"):
        flat_encoding(wide.teacher, wide.teacher)
    with pytest.raises(ValueError, match="outside the space"):
        RESNET.flat_encoding(Arch((4, 1, 1), ((16,) * 4, (16,), (16,))))


def test_genotype_known_values():
    lower, upper = RESNET.genotype_bounds()
    assert lower.tolist() == [1, 0, 0, 0] * 3 and upper.tolist() == [3, 8, 8, 8] * 3
    arch = RESNET.parse("2,1,3|16,8|12|9,10,16")
    assert RESNET.genotype(arch).tolist() == [2, 8, 0, 0, 1, 4, 0, 0, 3, 1, 2, 8]
    assert RESNET.from_genotype(RESNET.genotype(arch)) == arch
    # rounded (half to even) and clipped, slots beyond the depth ignored, canonicalised
    x = [5, 20, -3, 0.4, 0.6, 7.6, 8, 8, 2.5, 3, 3, 3]
    assert RESNET.from_genotype(x).id == "3,1,2|16,8,8|16|11,11"
    assert RESNET.from_genotype(np.zeros(12)).id == "1,1,1|8|8|8"
    arch = TV34.parse("1,2,6,1|16|8,12|16,15,14,13,12,11|9")
    expected = [1, 8, 0, 0, 2, 0, 4, 0, 0, 6, 8, 7, 6, 5, 4, 3, 1, 1, 0, 0]
    assert TV34.genotype(arch).tolist() == expected
    with pytest.raises(ValueError, match="a genotype has 12 entries, got 3"):
        RESNET.from_genotype([1, 2, 3])
    with pytest.raises(ValueError, match="outside the space"):
        RESNET.genotype(Arch((1, 1, 1), ((7,), (8,), (8,))))


def test_smallest_known_values():
    assert RESNET.smallest().id == "1,1,1|8|8|8"
    assert TorchvisionResNetSpace().smallest().id == "1,1,1,1|8|8|8|8"
    # one channel at the smallest step in the first stage: canonical is 16/16
    assert ResNetSpace(widths=(1, 2), depths=(1, 1), strides=(1, 2)).smallest().id == "1,1|16|8"
    coarse = ResNetSpace(widths=(8, 16), depths=(2, 2), strides=(1, 2), width_steps=(12, 16))
    assert coarse.smallest().id == "1,1|12|12"


def test_a_space_without_them_says_so():
    toy = create_space("toy_plain")
    for call in (
        toy.genotype_bounds,
        lambda: toy.genotype(toy.teacher),
        lambda: toy.from_genotype([1]),
    ):
        with pytest.raises(NotImplementedError, match=r"PlainSpace\(stages=2\) has no genotype"):
            call()
    with pytest.raises(NotImplementedError, match="has no known smallest member"):
        toy.smallest()
    with pytest.raises(NotImplementedError, match="PlainSpace cannot be derived from a module"):
        type(toy).from_module(toy.build(toy.teacher, 3))
    with pytest.raises(NotImplementedError, match="cannot be derived from a state dict"):
        type(toy).from_state_dict({})
    # the default flat encoding reads choices relative to the teacher's (4 channels here)
    rows = toy.flat_encoding(Arch((1, 2), ((2,), (4, 3)))).view(6, 8)
    assert rows[0, :3].tolist() == [1.0, 0.5, 0.5] and rows[1, :4].tolist() == [1.0, 1.0, 1.0, 0.75]


@pytest.mark.parametrize("space", [RESNET, TV34], ids=["resnet", "tv_resnet"])
def test_classifier_shape_and_head(space):
    model = space.build(space.sample(1, seed=0)[0], 7, 2, seed=0)
    assert classifier_shape(model) == (2, 7)
    assert classifier_head(model) is model.fc
    assert state_dict_shape(space, space.build(space.teacher, 7, 2).state_dict()) == (2, 7)
    with pytest.raises(TypeError, match="the Sequential has no Conv2d"):
        classifier_shape(nn.Sequential(nn.Linear(3, 4)))
    with pytest.raises(TypeError, match="has no Conv2d and no Linear"):
        classifier_head(nn.Sequential(nn.ReLU()))
    with pytest.raises(TypeError, match=r"expected an nn\.Module, got int"):
        classifier_shape(3)
    state = space.build(space.teacher, 7, 2).state_dict()
    del state["fc.weight"]
    with pytest.raises(ValueError, match=r"has no fc\.weight"):
        state_dict_shape(space, state)


def test_spaces_read_off_their_teachers():
    lib = ResNetSpace(widths=(4, 8), depths=(2, 1), strides=(1, 1))
    model = lib.build(lib.teacher, 3, 1)
    assert ResNetSpace.from_module(model) == lib
    assert ResNetSpace.from_state_dict(model.state_dict(), strides=(1, 1)) == lib
    assert ResNetSpace.from_state_dict(model.state_dict()).strides == (1, 2)
    tv = TV34.build(TV34.teacher, 3)
    assert TorchvisionResNetSpace.from_module(tv) == TV34
    assert TorchvisionResNetSpace.from_state_dict(tv.state_dict()) == TV34
    with pytest.raises(UnsupportedModuleError, match="derives from the library's ResNet") as info:
        ResNetSpace.from_module(tv)
    assert info.value.expects == "the library's ResNet"
    with pytest.raises(UnsupportedModuleError, match="children are: stem") as info:
        TorchvisionResNetSpace.from_module(model)
    assert info.value.expects.startswith("a torchvision-style BasicBlock ResNet")
    with pytest.raises(UnsupportedModuleError, match=r"no stem\.conv\.weight") as info:
        ResNetSpace.from_state_dict(tv.state_dict())
    assert info.value.expects is not None
    student = lib.build(lib.parse("2,1|16,12|16"), 3, 1)
    with pytest.raises(UnsupportedModuleError, match="student, not a teacher") as info:
        ResNetSpace.from_module(student)
    assert info.value.expects is None  # a ResNet, but not a teacher
