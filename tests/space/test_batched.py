import pytest
import torch

from dassgnn.kd import init_student
from dassgnn.space import Arch
from dassgnn.space.batched import BatchedResNet

ARCHS = [
    Arch((2, 2), ((16, 16), (16, 16))),  # the teacher itself
    Arch((1, 2), ((12,), (16, 10))),  # a skipped block, a narrowing block
    Arch((2, 1), ((8, 16), (8,))),  # a widening block
]


def test_shapes_and_repr(small_space):
    model = small_space.build_batched(ARCHS, num_classes=5, in_channels=1)
    assert isinstance(model, BatchedResNet)
    assert model(torch.randn(4, 1, 16, 16)).shape == (4, 3, 5)
    assert str(model) == (
        "BatchedResNet(students=3, num_classes=5, space=ResNetSpace(widths=(8, 16), "
        "depths=(2, 2), strides=(1, 2)))"
    )
    with pytest.raises(ValueError, match="depth 3 > maximum 2"):
        BatchedResNet(small_space, [Arch((3, 1), ((8, 8, 8), (8,)))], 5, 1)
    with pytest.raises(ValueError, match="at least one student"):
        BatchedResNet(small_space, [], 5, 1)


def test_same_outputs_as_remapped_students(small_space, digits16, digits_teacher):
    teacher, _ = digits_teacher
    model = BatchedResNet(small_space, ARCHS, 5, 1).load_teacher(teacher.state_dict()).eval()
    x = digits16.test.tensors()[0][:32].float() / 255
    with torch.no_grad():
        batched = model(x)
        for i, arch in enumerate(ARCHS):
            student = init_student(small_space, arch, digits16, teacher, "copy_first").eval()
            assert torch.allclose(batched[:, i], student(x), atol=1e-5), arch
        assert torch.allclose(batched[:, 0], teacher.eval()(x), atol=1e-5)
