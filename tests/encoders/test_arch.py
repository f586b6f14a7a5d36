import pytest
import torch
from torch_geometric.data import Batch

from dassgnn.encoders import (
    FLAT_SIZE,
    LAYERS,
    ArchGNN,
    FlatArchEncoder,
    TopologicalPass,
    flat_encoding,
)
from dassgnn.space import Arch, ResNetSpace

SPACE = ResNetSpace()
SCHEMA = SPACE.graph_schema


@pytest.mark.parametrize("layer", LAYERS)
def test_gnn_shapes_repr_and_distinct_embeddings(layer):
    torch.manual_seed(0)
    archs = SPACE.sample(8, seed=0)
    enc = ArchGNN(SCHEMA.num_node_features, SCHEMA.num_edge_features, 32, 16, layer=layer)
    assert str(enc) == f"ArchGNN(24, 16, layer={layer!r}, num_layers=3)"
    out = enc(Batch.from_data_list([SPACE.to_graph(a) for a in archs]))
    assert out.shape == (8, 16)
    assert torch.unique(out.detach(), dim=0).shape[0] == 8
    one = enc(Batch.from_data_list([SPACE.to_graph(archs[3])]))
    assert torch.allclose(one[0], out[3], atol=1e-5)  # batching does not mix graphs


def test_topological_pass_follows_the_data_path():
    # a chain 0 -> 1 -> 2: the last node's state depends on the first node's features
    layer = TopologicalPass(4, 8, 1)
    assert str(layer) == "TopologicalPass(4, 8, edge_dim=1)"
    x = torch.randn(3, 4)
    edge_index = torch.tensor([[0, 1], [1, 2]])
    edge_attr = torch.ones(2, 1)
    h = layer(x, edge_index, edge_attr)
    x2 = x.clone()
    x2[0] += 1.0
    h2 = layer(x2, edge_index, edge_attr)
    assert h.shape == (3, 8) and not torch.allclose(h[2], h2[2])
    with pytest.raises(ValueError, match="lower to higher"):
        layer(x, torch.tensor([[2], [0]]), torch.ones(1, 1))


def test_flat_encoding():
    arch = Arch((1, 3, 2), ((8,), (16, 12, 8), (10, 9)))
    v = flat_encoding(arch, SPACE.teacher)
    assert v.shape == (FLAT_SIZE,)
    rows = v.view(6, -1)
    assert rows[0, :3].tolist() == pytest.approx([1.0, 1 / 3, 0.5]) and rows[3].abs().sum() == 0
    assert rows[1, 2:5].tolist() == [1.0, 0.75, 0.5]
    enc = FlatArchEncoder(32, 8)
    assert enc(v[None]).shape == (1, 8) and str(enc) == f"FlatArchEncoder({FLAT_SIZE}, 8)"
    assert torch.equal(v, SPACE.flat_encoding(arch)) and SPACE.flat_size == FLAT_SIZE
    assert FlatArchEncoder(32, 8, in_channels=10)(torch.zeros(2, 10)).shape == (2, 8)
    deep = Arch((7,), ((16,) * 7,))
    with pytest.raises(ValueError, match="at most 6 stages of 6 blocks"):
        flat_encoding(deep, deep)  # cut off before; refused now


def test_bad_settings():
    with pytest.raises(ValueError, match="layer must be one of"):
        ArchGNN(24, 2, layer="gcn")
    with pytest.raises(ValueError, match="num_layers must be >= 1"):
        ArchGNN(24, 2, num_layers=0)
