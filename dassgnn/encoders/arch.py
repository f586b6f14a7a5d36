r"""Architecture encoders: a GNN over the graphs of
[`SearchSpace.to_graph`][dassgnn.space.SearchSpace.to_graph], and an MLP over the flat
choice vector of [`SearchSpace.flat_encoding`][dassgnn.space.SearchSpace.flat_encoding], the
encoding of the original DaSS code, for comparison."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.nn import GATv2Conv, GINEConv, global_add_pool, global_mean_pool

from dassgnn.space import Arch
from dassgnn.space.encoding import FLAT_SIZE, flat_vector
from dassgnn.utils.validation import check_choice, check_int

LAYERS = ("gine", "gatv2", "topo")
"""The message-passing layers `ArchGNN` can use."""


class TopologicalPass(nn.Module):
    r"""One asynchronous pass over a DAG in topological order (as in D-VAE,
    [Zhang et al., 2019](https://arxiv.org/abs/1904.11088)): a node's state is
    computed after all its predecessors',

    $$
    \mathbf{h}_v = \mathrm{GRU}\Big(\mathbf{x}_v, \sum_{u \to v}
    \sigma(W_g [\mathbf{h}_u \| \mathbf{e}_{uv}]) \odot W_m [\mathbf{h}_u \| \mathbf{e}_{uv}]\Big),
    $$

    so information flows from the input to the classifier along the data path
    and the residual shortcuts.

    Args:
        in_channels (int): Node feature size.
        hidden_channels (int): State size.
        edge_dim (int): Edge feature size.

    Shapes:
        - **input:** node features $(|V|, F)$, edge indices $(2, |E|)$ with
          ``src < dst`` in a topological numbering, edge features $(|E|, D)$
        - **output:** node states $(|V|, H)$
    """

    def __init__(self, in_channels: int, hidden_channels: int, edge_dim: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.edge_dim = edge_dim
        self.message = nn.Linear(hidden_channels + edge_dim, hidden_channels)
        self.gate = nn.Linear(hidden_channels + edge_dim, hidden_channels)
        self.cell = nn.GRUCell(in_channels, hidden_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises the layers."""
        self.message.reset_parameters()
        self.gate.reset_parameters()
        self.cell.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        src, dst = edge_index
        if bool((src >= dst).any()):
            raise ValueError("TopologicalPass needs edges from lower to higher node indices")
        level = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        # longest-path level of every node: a node's level exceeds its predecessors'
        order = torch.argsort(dst)
        for _ in range(x.shape[0]):
            new = level.clone()
            new.scatter_reduce_(0, dst[order], level[src[order]] + 1, reduce="amax")
            if torch.equal(new, level):
                break
            level = new
        h = x.new_zeros(x.shape[0], self.hidden_channels)
        for lv in range(int(level.max()) + 1 if x.shape[0] else 0):
            nodes = (level == lv).nonzero().flatten()
            incoming = (level[dst] == lv).nonzero().flatten()
            agg = x.new_zeros(x.shape[0], self.hidden_channels)
            if incoming.numel():
                inp = torch.cat([h[src[incoming]], edge_attr[incoming]], dim=-1)
                msg = torch.sigmoid(self.gate(inp)) * self.message(inp)
                agg.index_add_(0, dst[incoming], msg)
            h = h.index_copy(0, nodes, self.cell(x[nodes], agg[nodes]))
        return h

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, "
            f"edge_dim={self.edge_dim})"
        )


class ArchGNN(nn.Module):
    r"""Encodes architecture graphs into one vector each: ``num_layers`` rounds of
    message passing (GINE, [Hu et al., 2020](https://arxiv.org/abs/1905.12265);
    GATv2, [Brody et al., 2022](https://arxiv.org/abs/2105.14491); or a
    [`TopologicalPass`][dassgnn.encoders.TopologicalPass]) over the node
    features and edge types, then the sum and the mean of the node states,
    projected to ``out_channels``.

    Args:
        in_channels (int): Node feature size (the space's
            ``graph_schema.num_node_features``).
        edge_dim (int): Edge feature size (``graph_schema.num_edge_features``).
        hidden_channels (int, optional): State size. (default: `64`)
        out_channels (int, optional): Embedding size. (default: `64`)
        num_layers (int, optional): Message-passing rounds (a topological pass
            counts as one). (default: `3`)
        layer (str, optional): ``"gine"``, ``"gatv2"`` or ``"topo"``. (default: `"gine"`)

    Shapes:
        - **input:** a [`Batch`](https://pytorch-geometric.readthedocs.io) of $B$ graphs
        - **output:** $(B, \text{out})$
    """

    def __init__(
        self,
        in_channels: int,
        edge_dim: int,
        hidden_channels: int = 64,
        out_channels: int = 64,
        num_layers: int = 3,
        layer: str = "gine",
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        self.edge_dim = check_int(edge_dim, "edge_dim", minimum=1)
        self.hidden_channels = check_int(hidden_channels, "hidden_channels", minimum=1)
        self.out_channels = check_int(out_channels, "out_channels", minimum=1)
        self.num_layers = check_int(num_layers, "num_layers", minimum=1)
        self.layer = check_choice(layer, "layer", LAYERS)
        h = self.hidden_channels
        self.embed = nn.Linear(self.in_channels, h)
        self.convs = nn.ModuleList()
        rounds = 1 if layer == "topo" else self.num_layers
        for _ in range(rounds):
            if layer == "gine":
                mlp = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h))
                self.convs.append(GINEConv(mlp, edge_dim=self.edge_dim))
            elif layer == "gatv2":
                self.convs.append(GATv2Conv(h, h, heads=1, edge_dim=self.edge_dim))
            else:
                self.convs.append(TopologicalPass(h, h, self.edge_dim))
        self.norms = nn.ModuleList(nn.LayerNorm(h) for _ in range(rounds))
        self.out = nn.Linear(2 * h, self.out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises every layer."""
        self.embed.reset_parameters()
        for conv, norm in zip(self.convs, self.norms, strict=True):
            conv.reset_parameters()  # type: ignore[operator]
            norm.reset_parameters()  # type: ignore[operator]
        self.out.reset_parameters()

    def forward(self, batch: Batch) -> Tensor:
        h = F.relu(self.embed(batch.x))
        edge_attr = batch.edge_attr.to(h.dtype)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = norm(h + F.relu(conv(h, batch.edge_index, edge_attr)))
        pooled = torch.cat(
            [global_add_pool(h, batch.batch) / 32.0, global_mean_pool(h, batch.batch)], dim=-1
        )
        return self.out(pooled)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"layer={self.layer!r}, num_layers={self.num_layers})"
        )


def flat_encoding(arch: Arch, teacher: Arch, num_choices: int = 16) -> Tensor:
    """The choice vector of an architecture, as the original DaSS code encodes it:
    for every stage slot a 1, the depth relative to the teacher's, and every block's
    choice relative to ``num_choices`` (0 where absent), in a grid of 6 stages of 6 blocks
    (`dassgnn.space.encoding.flat_vector`). A space's own is
    [`SearchSpace.flat_encoding()`][dassgnn.space.SearchSpace.flat_encoding], which gives the
    same vector for the ResNet spaces.

    Args:
        arch (Arch): The architecture.
        teacher (Arch): The teacher of its space (sets the maximum depths).
        num_choices (int, optional): The largest block choice (16 sixteenths). (default: `16`)

    Returns:
        Tensor: `(FLAT_SIZE,)`, 48.

    Raises:
        ValueError: If ``arch`` has more than 6 stages or a stage of more than 6 blocks.
    """
    return flat_vector(arch, teacher, num_choices)


class FlatArchEncoder(nn.Module):
    r"""An MLP over the flat choice vector of
    [`SearchSpace.flat_encoding()`][dassgnn.space.SearchSpace.flat_encoding] (the encoding of
    the original DaSS code), the baseline of [`ArchGNN`][dassgnn.encoders.ArchGNN].

    Args:
        hidden_channels (int, optional): Hidden size. (default: `64`)
        out_channels (int, optional): Embedding size. (default: `64`)
        in_channels (int, optional): Size of the flat vector, the space's ``flat_size``.
            (default: `48`, ``FLAT_SIZE``)

    Shapes:
        - **input:** $(B, \text{in})$
        - **output:** $(B, \text{out})$
    """

    def __init__(
        self, hidden_channels: int = 64, out_channels: int = 64, in_channels: int = FLAT_SIZE
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        self.hidden_channels = check_int(hidden_channels, "hidden_channels", minimum=1)
        self.out_channels = check_int(out_channels, "out_channels", minimum=1)
        self.mlp = nn.Sequential(
            nn.Linear(self.in_channels, self.hidden_channels),
            nn.ReLU(),
            nn.Linear(self.hidden_channels, self.out_channels),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises the layers."""
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"
