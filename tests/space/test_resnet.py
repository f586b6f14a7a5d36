import pytest
import torch
from torch import nn

from dassgnn.space import Arch, ResNetSpace, create_space, list_spaces, space_from_dict


def counted_macs(model: nn.Module, image_size: int, in_channels: int) -> int:
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * module.in_channels * k // module.groups
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model.eval()(torch.zeros(1, in_channels, image_size, image_size))
    for h in handles:
        h.remove()
    return total


def test_defaults_and_teacher():
    space = ResNetSpace()
    assert space.teacher == Arch((3, 3, 3), ((16,) * 3,) * 3)
    assert space.width_multipliers[0] == 0.5 and space.width_multipliers[-1] == 1.0
    assert len(space.width_multipliers) == 9
    assert repr(space) == "ResNetSpace(widths=(8, 16, 32), depths=(3, 3, 3), strides=(1, 2, 2))"
    model = space.build(space.teacher, num_classes=10)
    # CIFAR ResNet-20 layout at half width: 68 k parameters, 10 M MACs at 32x32.
    assert space.params(space.teacher, 10) == sum(p.numel() for p in model.parameters()) == 68050
    assert space.flops(space.teacher, 10, image_size=32) == 10248512
    wide = ResNetSpace(widths=(16, 32, 64))  # ResNet-20 itself: 0.27 M parameters, 41 M MACs
    assert wide.params(wide.teacher, 10) == 269722
    assert wide.flops(wide.teacher, 10) == 40551040


def test_teacher_is_largest():
    space = ResNetSpace(widths=(8, 16, 32), depths=(2, 2, 2))
    teacher_params = space.params(space.teacher, 5)
    for arch in space.sample(200, seed=1):
        assert space.params(arch, 5) <= teacher_params
        assert space.flops(arch, 5) <= space.flops(space.teacher, 5)


@pytest.mark.parametrize(
    ("widths", "depths", "strides", "image_size", "in_channels"),
    [
        ((16, 32, 64), (3, 3, 3), (1, 2, 2), 32, 3),
        ((8, 16, 32, 64), (4, 4, 4, 4), (1, 2, 2, 2), 32, 3),
        ((32, 64, 128), (2, 5, 2), (1, 2, 2), 28, 1),
        ((8, 12, 24, 32), (5, 2, 3, 2), (2, 1, 2, 2), 15, 1),
    ],
)
def test_params_and_flops_match_built_modules(widths, depths, strides, image_size, in_channels):
    space = ResNetSpace(widths, depths, strides)
    for arch in [space.teacher, *space.sample(40, seed=0)]:
        model = space.build(arch, 7, in_channels)
        assert space.params(arch, 7, in_channels) == sum(p.numel() for p in model.parameters())
        expected = counted_macs(model, image_size, in_channels)
        assert space.flops(arch, 7, in_channels, image_size) == expected
        out = model(torch.randn(2, in_channels, image_size, image_size))
        assert out.shape == (2, 7)


@pytest.mark.slow
def test_build_and_graph_on_1000_archs():
    space = ResNetSpace(widths=(8, 16, 32, 64), depths=(4, 4, 4, 4), strides=(1, 2, 2, 2))
    archs = space.sample(1000, seed=123)
    keys = set()
    for arch in archs:
        model = space.build(arch, 5)
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 5)
        assert space.params(arch, 5) == sum(p.numel() for p in model.parameters())
        g = space.to_graph(arch)
        keys.add((g.x.numpy().tobytes(), g.edge_index.numpy().tobytes()))
    assert len(keys) == 1000


def test_sample_is_deterministic_distinct_and_canonical():
    space = ResNetSpace()
    a = space.sample(300, seed=7)
    assert a == space.sample(300, seed=7)
    assert a != space.sample(300, seed=8)
    assert len(set(a)) == 300
    assert all(space.canonical(x) == x and space.contains(x) for x in a)
    depths = {x.depths[0] for x in a}
    assert depths == {1, 2, 3}


def test_sample_whole_small_space():
    space = ResNetSpace(widths=(4, 8), depths=(1, 2), strides=(1, 2))
    # stage 0: widths 4 -> channels {2, 3, 4}: 3 choices; stage 1: width 8 -> 4..8: 5 choices.
    assert len(space) == 3 * (5 + 25)
    members = list(space)
    assert len(set(members)) == len(space)
    assert set(space.sample(len(space), seed=0)) == set(members)
    with pytest.raises(ValueError, match="exceeds the 90 distinct"):
        space.sample(91, seed=0)


def test_canonical_merges_equal_networks():
    space = ResNetSpace(widths=(4, 8), depths=(1, 1), strides=(1, 2))
    # width 4: steps 8 and 9 give round(2.0)=2, round(2.25)=2 channels: one network,
    # represented by the step whose exact width is nearest (8/16 * 4 = 2).
    a, b = Arch((1, 1), ((8,), (16,))), Arch((1, 1), ((9,), (16,)))
    assert space.channels(a) == space.channels(b) == ((2,), (8,))
    assert a != b and space.canonical(b) == a
    # width 8: steps 15 and 16 both give 8 channels; the teacher's 16 is canonical.
    assert space.canonical(Arch((1, 1), ((16,), (15,)))) == space.teacher
    assert space.canonical(space.teacher) == space.teacher
    # Rounding is half-up: 10/16 * 4 = 2.5 -> 3 channels.
    assert ResNetSpace.channels_for(10, 4) == 3
    assert ResNetSpace.channels_for(8, 1) == 1  # never fewer than one channel


def test_contains_and_errors():
    space = ResNetSpace()
    assert space.contains(space.teacher)
    assert Arch((1, 1, 1), ((8,), (8,), (8,))) in space
    with pytest.raises(ValueError, match="depth 4 > maximum 3"):
        space.build(Arch((4, 1, 1), ((8,) * 4, (8,), (8,))), 10)
    with pytest.raises(ValueError, match="2 stages, the space has 3"):
        space.params(Arch((1, 1), ((8,), (8,))), 10)
    with pytest.raises(ValueError, match=r"width steps \[7\]"):
        space.flops(Arch((1, 1, 1), ((7,), (8,), (8,))), 10)
    with pytest.raises(TypeError, match="expected an Arch"):
        space.build("1,1,1|8|8|8", 10)
    with pytest.raises(ValueError, match="num_classes must be >= 1, got 0"):
        space.build(space.teacher, 0)
    with pytest.raises(ValueError, match="in_channels must be >= 1, got -1"):
        space.params(space.teacher, 10, in_channels=-1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"widths": (8, 16), "depths": (2, 2, 2), "strides": (1, 2, 2)}, "one entry per stage"),
        ({"widths": (0, 16, 32)}, r"ints >= 1, got \(0, 16, 32\)"),
        ({"depths": ()}, "non-empty"),
        ({"width_steps": (8, 12)}, "include 16"),
    ],
)
def test_bad_space(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNetSpace(**kwargs)


def test_build_seed_is_reproducible_and_private():
    space = ResNetSpace()
    arch = space.sample(1, seed=0)[0]
    state = torch.random.get_rng_state()
    a = space.build(arch, 10, seed=3).state_dict()
    b = space.build(arch, 10, seed=3).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = space.build(arch, 10, seed=4).state_dict()
    assert not torch.equal(a["stem.conv.weight"], c["stem.conv.weight"])


def test_registry_round_trip():
    assert "resnet" in list_spaces()
    space = create_space("resnet", widths=(8, 16), depths=(2, 2), strides=(1, 2))
    assert space_from_dict(space.to_dict()) == space
    with pytest.raises(KeyError, match="valid names: resnet"):
        create_space("vit")


def test_odd_input_sizes():
    space = ResNetSpace(widths=(8, 16, 32), depths=(1, 1, 1), strides=(1, 2, 2))
    model = space.build(space.teacher, 3, 1)
    for size in (7, 8, 9, 28):
        assert model(torch.randn(2, 1, size, size)).shape == (2, 3)
    assert space.spatial_sizes(7) == [(7, 7), (7, 7), (4, 4), (2, 2)]


def test_arch_features_are_relative_to_the_teacher():
    import math

    from dassgnn.space import ARCH_FEATURES

    space = ResNetSpace(widths=(8, 16, 32, 64), depths=(2, 2, 2, 2), strides=(1, 2, 2, 2))
    arch = space.parse("2,1,2,1|8,16|12|16,16|8")
    x = space.arch_features([space.teacher, arch], 10, 1, 32)
    assert x.shape == (2, len(ARCH_FEATURES)) == (2, 8)
    assert x[0].tolist() == [0, 0, 1, 1, 1, 1, 1, 1]
    log_params = math.log(space.params(arch, 10, 1) / space.params(space.teacher, 10, 1))
    log_flops = math.log(space.flops(arch, 10, 1, 32) / space.flops(space.teacher, 10, 1, 32))
    middle_depth, middle_width = (1 / 2 + 2 / 2) / 2, (12 / 16 + 16 / 16) / 2
    expected = [log_params, log_flops, 1.0, middle_depth, 0.5, 0.75, middle_width, 0.5]
    assert x[1].tolist() == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"archs\[0\]: .*depth 3 > maximum 2"):
        space.arch_features([Arch((3, 1, 1, 1), ((8,) * 3, (8,), (8,), (8,)))], 10)
