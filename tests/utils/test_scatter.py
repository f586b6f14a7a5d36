import pytest
import torch

import dassgnn.utils.scatter as scatter_module
from dassgnn.utils import scatter_mean, scatter_sum


@pytest.fixture(params=[True, False], ids=["torch_scatter", "fallback"])
def backend(request, monkeypatch):
    if request.param and not scatter_module.WITH_TORCH_SCATTER:
        pytest.skip("torch-scatter is not installed")
    monkeypatch.setattr(scatter_module, "WITH_TORCH_SCATTER", request.param)
    return request.param


def test_scatter_sum_and_mean(backend):
    src = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    index = torch.tensor([0, 2, 0, 2])
    assert torch.equal(scatter_sum(src, index), torch.tensor([[6.0, 8.0], [0, 0], [10, 12]]))
    mean = scatter_mean(src, index, dim_size=4)
    assert torch.equal(mean, torch.tensor([[3.0, 4.0], [0, 0], [5, 6], [0, 0]]))
    assert scatter_mean(torch.tensor([1.0, 0.0, 1.0]), torch.tensor([1, 1, 0])).tolist() == [
        1.0,
        0.5,
    ]


def test_backends_agree(monkeypatch):
    g = torch.Generator().manual_seed(0)
    src, index = torch.randn(100, 3, generator=g), torch.randint(0, 7, (100,), generator=g)
    monkeypatch.setattr(scatter_module, "WITH_TORCH_SCATTER", False)
    fallback = scatter_mean(src, index, 9)
    monkeypatch.setattr(
        scatter_module, "WITH_TORCH_SCATTER", scatter_module.torch_scatter is not None
    )
    assert torch.allclose(scatter_mean(src, index, 9), fallback, atol=1e-6)


def test_bad_index(backend):
    with pytest.raises(ValueError, match="one entry per row"):
        scatter_sum(torch.ones(3, 2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="non-negative"):
        scatter_sum(torch.ones(2), torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="dim_size=1 is smaller"):
        scatter_mean(torch.ones(2), torch.tensor([0, 3]), dim_size=1)


def test_training_reports_per_class_accuracy_with_both_backends(backend, digits16, small_space):
    from dassgnn.kd import Recipe, train

    model = small_space.build(small_space.teacher, 5, 1, seed=0)
    result = train(model, digits16.train, digits16.test, Recipe(epochs=1, lr=0.05), seed=0)
    _x, y = digits16.test.tensors()
    counts = torch.bincount(y, minlength=5).float()
    overall = torch.tensor(result.per_class_acc) @ counts / counts.sum()
    assert abs(float(overall) - result.test_acc) < 1e-5
