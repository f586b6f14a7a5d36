import pytest
import torch

from dassgnn.space import REMAP_STRATEGIES, Arch, ResNetSpace, list_remap_strategies, remap
from dassgnn.space.remap import remap_state_dict


def test_strategies_registered():
    assert list_remap_strategies() == ["copy_first", "copy_last", "uniform"]
    assert REMAP_STRATEGIES.create("copy_first").indices(8, 5) == [0, 1, 2, 3, 4]
    assert REMAP_STRATEGIES.create("copy_last").indices(8, 5) == [3, 4, 5, 6, 7]
    assert REMAP_STRATEGIES.create("uniform").indices(8, 5) == [0, 1, 3, 4, 6]
    assert REMAP_STRATEGIES.create("uniform").indices(8, 4) == [0, 2, 4, 6]
    with pytest.raises(KeyError, match="copy_first, copy_last, uniform"):
        REMAP_STRATEGIES.create("l1_norm")


@pytest.mark.parametrize("strategy", ["copy_first", "copy_last", "uniform"])
def test_identical_student_gets_exact_outputs(strategy, digits16, small_space, digits_teacher):
    teacher, _ = digits_teacher
    student = small_space.build(small_space.teacher, 5, 1, seed=99)
    remap(teacher, student, strategy)
    t_state, s_state = teacher.state_dict(), student.state_dict()
    assert all(torch.equal(s_state[k], t_state[k]) for k in t_state)
    # the trained teacher is channels-last: compare in the same memory layout
    student.to(memory_format=torch.channels_last)
    x = (digits16.test.tensors()[0][:64].float() / 255).contiguous(
        memory_format=torch.channels_last
    )
    with torch.no_grad():
        assert torch.equal(student.eval()(x), teacher.eval()(x))


def test_smaller_student_correlates_with_teacher(digits16, small_space, digits_teacher):
    teacher, result = digits_teacher
    assert result.test_acc > 0.6
    x = digits16.test.tensors()[0].float() / 255
    arch = Arch((1, 2), ((12,), (12, 10)))
    with torch.no_grad():
        t_out = teacher.eval()(x)
        for strategy in ("copy_first", "uniform"):
            student = remap(teacher, small_space.build(arch, 5, 1), strategy).eval()
            s_out = student(x)
            corr = torch.corrcoef(torch.stack([s_out.flatten(), t_out.flatten()]))[0, 1]
            assert corr > 0.5, (strategy, corr)
            agree = (s_out.argmax(1) == t_out.argmax(1)).float().mean()
            assert agree > 0.4, (strategy, agree)
        random_student = small_space.build(arch, 5, 1, seed=0).eval()
        corr_random = torch.corrcoef(torch.stack([random_student(x).flatten(), t_out.flatten()]))
        assert corr > corr_random[0, 1]


def test_remap_copies_bn_statistics(small_space, digits_teacher):
    teacher, _ = digits_teacher
    arch = Arch((2, 1), ((16, 8), (10,)))
    student = remap(teacher, small_space.build(arch, 5, 1), "copy_first")
    t, s = teacher.state_dict(), student.state_dict()
    assert torch.equal(s["stages.0.1.bn1.running_mean"], t["stages.0.1.bn1.running_mean"][:4])
    assert torch.equal(s["stages.0.1.conv1.weight"], t["stages.0.1.conv1.weight"][:4, :8])
    assert torch.equal(s["stages.1.0.bn2.running_var"], t["stages.1.0.bn2.running_var"][:10])
    assert torch.equal(s["fc.weight"], t["fc.weight"][:, :10])
    last = remap(teacher, small_space.build(arch, 5, 1), "copy_last").state_dict()
    # copy_last takes the last block of stage 1 and the last channels
    assert torch.equal(last["stages.1.0.conv2.weight"], t["stages.1.1.conv2.weight"][-10:, -10:])


def test_teacher_that_does_not_fit(small_space, digits_teacher):
    teacher, _ = digits_teacher
    other = ResNetSpace(widths=(8, 16, 32), depths=(1, 1, 1), strides=(1, 2, 2))
    with pytest.raises(ValueError, match="teacher has 2 stages but the student 3"):
        remap(teacher, other.build(other.teacher, 5, 1))
    wider = ResNetSpace(widths=(8, 32), depths=(2, 2), strides=(1, 2))
    with pytest.raises(ValueError, match="does not fit the student"):
        remap(teacher, wider.build(wider.teacher, 5, 1))
    deeper = ResNetSpace(widths=(8, 16), depths=(3, 2), strides=(1, 2))
    with pytest.raises(ValueError, match="stage 0: the student has 3 blocks"):
        remap(teacher, deeper.build(deeper.teacher, 5, 1))
    with pytest.raises(ValueError, match=r"fc\.weight"):
        remap(teacher, small_space.build(small_space.teacher, 7, 1))
    with pytest.raises(ValueError, match=r"stem\.conv\.weight"):
        remap(teacher, small_space.build(small_space.teacher, 5, 3))


def test_remap_state_dict_keeps_dtype(small_space, digits_teacher):
    teacher, _ = digits_teacher
    half = {k: v.half() if v.is_floating_point() else v for k, v in teacher.state_dict().items()}
    student = small_space.build(Arch((1, 1), ((8,), (8,))), 5, 1)
    state = remap_state_dict(half, student.state_dict())
    assert state["stem.conv.weight"].dtype == torch.float32
    assert state["stages.0.0.bn1.num_batches_tracked"].dtype == torch.int64
