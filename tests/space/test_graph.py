import networkx as nx
import torch
from torch_geometric.data import Batch

from dassgnn.space import (
    EDGE_TYPES,
    NODE_FEATURES,
    NUM_NODE_FEATURES,
    OPS,
    Arch,
    ResNetSpace,
    resnet_to_networkx,
)


def test_graph_structure():
    space = ResNetSpace(widths=(8, 16), depths=(2, 2), strides=(1, 2))
    arch = Arch((2, 1), ((16, 8), (12,)))
    g = space.to_graph(arch)
    # input, stem, 3 blocks x (conv1, conv2, skip, add), pool, linear
    assert g.num_nodes == 2 + 3 * 4 + 2
    assert g.x.shape == (16, NUM_NODE_FEATURES) == (16, len(NODE_FEATURES))
    # per block: 3 flow + 2 residual edges; input->stem, add->pool, pool->linear
    assert g.edge_index.shape == (2, 3 * 5 + 3)
    assert g.edge_attr.shape == (18, len(EDGE_TYPES))
    assert g.arch_id == arch.id
    ops = [OPS[i] for i in g.op.tolist()]
    assert ops[:6] == ["input", "stem", "conv_bn_relu", "conv_bn", "skip", "add_relu"]
    # the second block narrows 8 -> 4 channels and the third downsamples: adapted skips
    assert ops[8] == ops[12] == "skip_adapt" and ops[14:] == ["pool", "linear"]
    assert ops.count("skip_adapt") == 2 and ops.count("skip") == 1
    # edges point forward (topological order) and the graph is a DAG
    assert bool((g.edge_index[0] < g.edge_index[1]).all())
    col = NODE_FEATURES.index("out_rel")
    assert g.x[2, col].item() == 1.0 and g.x[6, col].item() == 0.5
    assert torch.isclose(g.x[10, col], torch.tensor(12 / 16))


def test_same_arch_same_graph_and_different_archs_differ():
    space = ResNetSpace()
    archs = space.sample(300, seed=5)
    seen = {}
    for arch in archs:
        g1, g2 = space.to_graph(arch), space.to_graph(arch)
        assert torch.equal(g1.x, g2.x) and torch.equal(g1.edge_index, g2.edge_index)
        seen[(g1.x.numpy().tobytes(), g1.edge_index.numpy().tobytes())] = arch
    assert len(seen) == len(archs)


def test_batching():
    space = ResNetSpace()
    graphs = [space.to_graph(a) for a in space.sample(4, seed=0)]
    batch = Batch.from_data_list(graphs)
    assert batch.num_graphs == 4
    assert batch.x.shape[0] == sum(g.num_nodes for g in graphs)
    assert batch.arch_id == [g.arch_id for g in graphs]


def test_networkx_export():
    space = ResNetSpace(widths=(8, 16), depths=(1, 1), strides=(1, 2))
    arch = space.teacher
    graph = resnet_to_networkx(space, arch)
    assert isinstance(graph, nx.DiGraph) and nx.is_directed_acyclic_graph(graph)
    assert graph.number_of_nodes() == space.to_graph(arch).num_nodes
    labels = [graph.nodes[n]["label"] for n in nx.topological_sort(graph)]
    assert labels[:3] == ["input", "stem 8", "conv_bn_relu 8"]
    assert "conv_bn_relu 16 /2" in labels
    kinds = {d["kind"] for _, _, d in graph.edges(data=True)}
    assert kinds == {"flow", "residual"}


def test_graph_batch_equals_batched_graphs():
    for space in (
        ResNetSpace(),
        ResNetSpace(widths=(8, 16, 32, 64), depths=(2, 3, 1, 2), strides=(1, 2, 2, 2)),
    ):
        archs = [*space.sample(200, seed=1), space.teacher]
        slow = Batch.from_data_list([space.to_graph(a) for a in archs])
        fast = space.graph_batch(archs)
        for name in ("x", "edge_index", "edge_attr", "op", "batch", "ptr"):
            assert torch.equal(getattr(fast, name), getattr(slow, name)), name
        assert fast.arch_id == slow.arch_id and fast.num_graphs == 201
