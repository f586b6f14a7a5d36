import pytest
import torch
from torch import nn

from dassgnn.search import (
    ArchCodec,
    TeacherCheckpointError,
    UnsupportedTeacherError,
    load_teacher,
    space_for_teacher,
)
from dassgnn.space import (
    SPACES,
    ResNet,
    ResNetSpace,
    TorchvisionResNetSpace,
    UnsupportedModuleError,
)

from ..space.toy_space import PlainNet, PlainSpace
from ..space.tv_reference import resnet18, resnet34, resnet50


def outputs(model, channels=3, size=32):
    x = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return model.eval()(x)


def test_a_torchvision_resnet18_with_10_classes():
    torch.manual_seed(0)
    tv = resnet18(num_classes=10)
    space, teacher = space_for_teacher(tv)
    assert space == TorchvisionResNetSpace()  # ResNet-18: 64-512, 2 blocks a layer, 7x7 stem
    assert torch.allclose(outputs(teacher), outputs(tv), atol=1e-5)
    space34, _ = space_for_teacher(resnet34(num_classes=3, in_channels=1, width=8))
    assert space34.depths == (3, 4, 6, 3) and space34.widths == (8, 16, 32, 64)


def test_the_library_resnet_maps_onto_its_space():
    space = ResNetSpace(widths=(4, 8, 16), depths=(1, 2, 1), strides=(1, 2, 1))
    model = space.build(space.teacher, 7, 1, seed=0)
    found, teacher = space_for_teacher(model)
    assert found == space and torch.equal(outputs(teacher, 1), outputs(model, 1))
    student = space.build(space.sample(1, seed=0)[0], 7, 1)
    with pytest.raises(UnsupportedTeacherError, match="is a student, not a teacher"):
        space_for_teacher(student)
    tv = TorchvisionResNetSpace(widths=(4, 8), depths=(2, 1), strides=(1, 2), stem_width=4)
    assert space_for_teacher(tv.build(tv.teacher, 3))[0] == tv
    with pytest.raises(UnsupportedTeacherError, match="student, not a teacher"):
        space_for_teacher(tv.build(tv.parse("2,1|16,12|8"), 3))


class Odd(nn.Module):
    """A torchvision ResNet-18 whose forward skips the stem's ReLU."""

    def __init__(self):
        super().__init__()
        self.net = resnet18(num_classes=4, width=8)
        for name, child in self.net.named_children():
            self.add_module(name, child)
        del self.net

    def forward(self, x):
        x = self.maxpool(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def grouped():
    model = resnet18(num_classes=4, width=8, groups=2)
    return model


def group_norm():
    model = resnet18(num_classes=4, width=8)
    model.layer1[0].bn1 = nn.GroupNorm(2, 8)
    return model


def extra_layer():
    model = resnet18(num_classes=4, width=8)
    model.head = nn.Linear(4, 4)
    return model


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: resnet50(num_classes=4, width=8), r"layer1\.0 is a Bottleneck block"),
        (grouped, r"layer1\.0\.conv1 is a grouped convolution \(groups=2\)"),
        (group_norm, r"layer1\.0\.bn1 is a GroupNorm; only BatchNorm2d"),
        (extra_layer, r"unknown layer 'head' \(Linear\)"),
        (Odd, "computes something else"),
        (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()), "cannot map a teacher of type"),
    ],
)
def test_unsupported_teachers_say_why(make, message):
    with pytest.raises(UnsupportedTeacherError, match=message):
        space_for_teacher(make())


def test_teachers_from_checkpoints(tmp_path):
    torch.manual_seed(0)
    tv = resnet18(num_classes=10, width=8)
    torch.save(tv.state_dict(), tmp_path / "tv.pt")
    loaded = load_teacher(tmp_path / "tv.pt")
    assert torch.allclose(outputs(loaded), outputs(tv), atol=1e-5)
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in tv.state_dict().items()}}, tmp_path / "dp.pt"
    )
    assert torch.allclose(outputs(load_teacher(tmp_path / "dp.pt")), outputs(tv), atol=1e-5)
    space = ResNetSpace(widths=(4, 8), depths=(2, 1), strides=(1, 2))
    lib = space.build(space.teacher, 3, 1, seed=0)
    torch.save(lib.state_dict(), tmp_path / "lib.pt")
    again = load_teacher(tmp_path / "lib.pt")
    assert isinstance(again, ResNet) and torch.equal(outputs(again, 1), outputs(lib, 1))


def test_bad_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="no teacher checkpoint at"):
        load_teacher(tmp_path / "missing.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(TeacherCheckpointError, match=r"does not load with torch\.load"):
        load_teacher(tmp_path / "text.pt")
    torch.save(resnet18(num_classes=2, width=4), tmp_path / "module.pt")  # a pickled module
    with pytest.raises(TeacherCheckpointError, match=r"torch\.save\(model\.state_dict\(\), path\)"):
        load_teacher(tmp_path / "module.pt")
    torch.save({"a.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(TeacherCheckpointError, match="has neither the library's ResNet layout"):
        load_teacher(tmp_path / "other.pt")
    torch.save(resnet50(num_classes=2, width=4).state_dict(), tmp_path / "r50.pt")
    with pytest.raises(UnsupportedTeacherError, match="Bottleneck ResNet"):
        load_teacher(tmp_path / "r50.pt")
    state = resnet18(num_classes=2, width=4).state_dict()
    del state["layer2.0.downsample.1.running_mean"]
    torch.save(state, tmp_path / "cut.pt")
    with pytest.raises(TeacherCheckpointError, match="does not fit the inferred"):
        load_teacher(tmp_path / "cut.pt")


class Derivable(PlainSpace):
    """The toy plugin space, reading its teacher off a PlainNet as a plugin would."""

    name = "toy_derivable"

    @classmethod
    def from_module(cls, module):
        if not isinstance(module, PlainNet):
            raise UnsupportedModuleError("not a PlainNet", expects="a PlainNet")
        return cls(stages=len(module.stages))


def test_every_registered_space_is_tried(monkeypatch):
    monkeypatch.setitem(SPACES._entries, "toy_derivable", Derivable)
    space = Derivable(stages=3)
    net = space.build(space.teacher, 4, 2, seed=0)
    found, teacher = space_for_teacher(net)
    assert found == space and torch.allclose(outputs(teacher, 2), outputs(net, 2))
    with pytest.raises(UnsupportedTeacherError, match="take the library's ResNet or a PlainNet or"):
        space_for_teacher(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()))


def test_the_evolution_codec_is_the_spaces_genotype():
    space = ResNetSpace()
    codec = ArchCodec(space)
    arch = space.parse("2,1,3|16,8|12|9,10,16")
    assert codec.n_var == 12 and codec.encode(arch).tolist() == space.genotype(arch).tolist()
    assert codec.decode(codec.encode(arch)) == arch and codec.upper.tolist() == [3, 8, 8, 8] * 3
    with pytest.raises(ValueError, match=r"has no genotype .*use strategy='pool'"):
        ArchCodec(PlainSpace())
