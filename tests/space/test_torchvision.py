import pytest
import torch
from torch import nn

from dassgnn.encoders.functional import gram
from dassgnn.space import Arch, ResNetSpace, TorchvisionResNetSpace, TVResNet
from dassgnn.space.checks import check_space, count_macs
from dassgnn.space.graph import OPS

from .tv_reference import resnet18

SMALL = {"widths": (8, 16), "depths": (2, 2), "strides": (1, 2), "stem_width": 8}


def test_a_torchvision_resnet18_state_dict_loads_into_the_teacher():
    torch.manual_seed(0)
    reference = resnet18(num_classes=10).eval()
    space = TorchvisionResNetSpace()
    ours = space.build(space.teacher, 10, seed=1)
    assert set(ours.state_dict()) == set(reference.state_dict())
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours.eval()(x), reference(x), atol=1e-5)
    # torchvision's documented counts for ResNet-18 (1000 classes): 11,689,512 parameters
    assert space.params(space.teacher, 1000) == 11_689_512
    assert space.params(space.teacher, 10) == sum(p.numel() for p in reference.parameters())
    assert space.flops(space.teacher, 10, 3, 224) == count_macs(
        reference, torch.randn(1, 3, 224, 224)
    )


@pytest.mark.parametrize(
    "settings, in_channels",
    [
        (SMALL, 3),
        ({**SMALL, "stem_width": 4}, 3),  # a stem narrower than layer1: layer1.0 has a downsample
        ({**SMALL, "stem_kernel": 3, "stem_stride": 1, "stem_pool": False}, 1),  # CIFAR variant
        ({"widths": (4, 8, 8), "depths": (1, 2, 3), "strides": (1, 2, 1), "stem_width": 4}, 3),
    ],
)
def test_other_settings_conform(settings, in_channels):
    check_space(TorchvisionResNetSpace(**settings), in_channels=in_channels)


def test_students_cut_blocks_channels_stem_and_downsample():
    space = TorchvisionResNetSpace(**SMALL)
    teacher = space.build(space.teacher, 5, seed=0)
    arch = Arch((1, 2), ((12,), (8, 16)))  # 6 channels, then 8 and 16
    student = space.remap(teacher, space.build(arch, 5, seed=1))
    t, s = teacher.state_dict(), student.state_dict()
    assert s["conv1.weight"].shape == (6, 3, 7, 7)  # the stem follows layer1.0
    assert torch.equal(s["conv1.weight"], t["conv1.weight"][:6])
    assert torch.equal(s["layer2.0.downsample.0.weight"], t["layer2.0.downsample.0.weight"][:8, :6])
    assert torch.equal(
        s["layer2.0.downsample.1.running_var"], t["layer2.0.downsample.1.running_var"][:8]
    )
    assert torch.equal(s["layer2.1.conv1.weight"], t["layer2.1.conv1.weight"][:, :8])
    assert "layer1.1.conv1.weight" not in s
    assert torch.equal(s["fc.weight"], t["fc.weight"])
    block = student.layer2[1]
    assert block.downsample is None and block.shortcut.out_channels == 16  # zero-pads 8 -> 16
    assert space.params(arch, 5) == sum(p.numel() for p in student.parameters())


def test_the_remap_names_what_does_not_fit():
    space = TorchvisionResNetSpace(**SMALL)
    other = TorchvisionResNetSpace(**{**SMALL, "widths": (4, 8)})
    with pytest.raises(ValueError, match=r"does not fit the student at 'layer1\.0\.conv1\.weight'"):
        space.remap(other.build(other.teacher, 5), space.build(space.teacher, 5))
    with pytest.raises(ValueError, match=r"does not fit the student at 'fc\.weight'"):
        space.remap(space.build(space.teacher, 4), space.build(space.teacher, 5))


def test_masked_features_equal_the_remapped_students():
    space = TorchvisionResNetSpace(**SMALL)
    teacher = space.build(space.teacher, 5, seed=0)
    for m in teacher.modules():  # trained-looking BN statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    archs = space.sample(12, seed=0)
    x = torch.randn(4, 3, 16, 16)
    masked = space.student_features(teacher, archs, x)
    for arch, maps in zip(archs, masked, strict=True):
        student = space.remap(teacher, space.build(arch, 5)).eval()
        with torch.no_grad():
            own = space.features(student, x)[-1]
        c = own.shape[1]
        assert torch.allclose(maps[:, :c], own, atol=1e-5) and not maps[:, c:].any()
        assert torch.allclose(gram(maps), gram(own), atol=1e-5)


def test_graphs_share_the_resnet_schema():
    space = TorchvisionResNetSpace(**{**SMALL, "stem_width": 4})
    assert space.graph_schema == ResNetSpace().graph_schema
    graph = space.to_graph(space.teacher)
    ops = [OPS[i] for i in graph.op.tolist()]
    assert ops[:2] == ["input", "stem"] and ops[-2:] == ["pool", "linear"]
    # layer1.0 (downsample 4 -> 8), layer2.0 (stride 2): skip_adapt; the second blocks: skip
    assert [op for op in ops if op.startswith("skip")] == ["skip_adapt", "skip"] * 2
    assert space.to_graph(Arch((1, 1), ((8,), (8,)))).num_nodes == 2 + 2 * 4 + 2


def test_bad_settings_and_models():
    with pytest.raises(ValueError, match="stem_kernel must be odd"):
        TorchvisionResNetSpace(stem_kernel=4)
    with pytest.raises(ValueError, match="one entry per stage"):
        TorchvisionResNetSpace(widths=(8, 16), depths=(2,))
    space = TorchvisionResNetSpace(**SMALL)
    with pytest.raises(TypeError, match="must be a TVResNet"):
        space.features(nn.Linear(2, 2), torch.zeros(1, 2))
    assert isinstance(space.build(space.teacher, 3), TVResNet)
    assert "TVResNet(depths=(2,2)" in repr(space.build(space.teacher, 3))
