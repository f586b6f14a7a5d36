"""Architectures as PyTorch Geometric graphs."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import networkx as nx
import torch
from torch_geometric.data import Data

from dassgnn.space.arch import Arch

if TYPE_CHECKING:
    from dassgnn.space.resnet import ResNetSpace

OPS: tuple[str, ...] = (
    "input",
    "stem",
    "conv_bn_relu",
    "conv_bn",
    "skip",
    "skip_adapt",
    "add_relu",
    "pool",
    "linear",
)
"""Node operation types, in one-hot order."""
MAX_STAGES = 6
"""Stages beyond this many share the last stage one-hot slot."""
EDGE_TYPES: tuple[str, ...] = ("flow", "residual")
"""Edge types, in one-hot order of ``edge_attr``."""

NODE_FEATURES: tuple[str, ...] = (
    *(f"op={op}" for op in OPS),
    "in_rel",  # input channels / the teacher's channels at this place
    "out_rel",  # output channels / the teacher's channels at this place
    "in_log",  # log2(1 + input channels) / 8
    "out_log",  # log2(1 + output channels) / 8
    "stride",  # 1 if the node downsamples, else 0
    "resolution",  # log2(total downsampling so far) / 4
    *(f"stage={s}" for s in range(MAX_STAGES)),
    "stage_pos",  # (stage + 1) / number of stages, 0 outside the stages
    "block_pos",  # (block + 1) / the teacher's depth of the stage
    "block_last",  # 1 for nodes of the last block of a stage
)
"""Names of the columns of ``Data.x``."""
NUM_NODE_FEATURES = len(NODE_FEATURES)
"""The number of columns of ``Data.x``: ``len(NODE_FEATURES)``."""


def _log(c: int) -> float:
    return math.log2(1 + c) / 8


class _Position(NamedTuple):
    """Where a node sits: its stage, block, the teacher's depth of the stage, last block or not."""

    stage: int
    block: int
    depth: int
    last: bool


class _GraphBuilder:
    def __init__(self, num_stages: int) -> None:
        self.num_stages = num_stages
        self.rows: list[list[float]] = []
        self.ops: list[int] = []
        self.meta: list[dict] = []
        self.edges: list[tuple[int, int, int]] = []

    def node(
        self,
        op: str,
        c_in: int,
        c_out: int,
        ref: int,
        pos: _Position | None = None,
        *,
        stride: int = 1,
        down: int = 1,
    ) -> int:
        row = [0.0] * NUM_NODE_FEATURES
        row[OPS.index(op)] = 1.0
        k = len(OPS)
        row[k : k + 6] = [
            c_in / ref if ref else 0.0,
            c_out / ref if ref else 0.0,
            _log(c_in),
            _log(c_out),
            float(stride > 1),
            math.log2(down) / 4,
        ]
        k += 6
        if pos is not None:
            row[k + min(pos.stage, MAX_STAGES - 1)] = 1.0
            row[k + MAX_STAGES] = (pos.stage + 1) / self.num_stages
            row[k + MAX_STAGES + 1] = (pos.block + 1) / pos.depth
            row[k + MAX_STAGES + 2] = float(pos.last)
        self.rows.append(row)
        self.ops.append(OPS.index(op))
        self.meta.append(
            {
                "op": op,
                "in_channels": c_in,
                "out_channels": c_out,
                "stride": stride,
                "stage": -1 if pos is None else pos.stage,
                "block": -1 if pos is None else pos.block,
            }
        )
        return len(self.rows) - 1

    def edge(self, src: int, dst: int, kind: str = "flow") -> None:
        self.edges.append((src, dst, EDGE_TYPES.index(kind)))

    def block(
        self,
        prev: int,
        c_in: int,
        c: int,
        width: int,
        pos: _Position,
        *,
        stride: int,
        down: int,
        adapt: bool,
    ) -> int:
        """A BasicBlock after node ``prev``: two convolutions and a (``skip_adapt``
        when ``adapt``) shortcut into an addition, whose node it returns."""
        conv1 = self.node("conv_bn_relu", c_in, c, width, pos, stride=stride, down=down)
        conv2 = self.node("conv_bn", c, c, width, pos, down=down)
        op = "skip_adapt" if adapt else "skip"
        skip = self.node(op, c_in, c, width, pos, stride=stride, down=down)
        add = self.node("add_relu", c, c, width, pos, down=down)
        self.edge(prev, conv1)
        self.edge(conv1, conv2)
        self.edge(conv2, add)
        self.edge(prev, skip, "residual")
        self.edge(skip, add, "residual")
        return add

    def head(self, prev: int, c: int, width: int, down: int) -> None:
        """Global pooling and the classifier after node ``prev``."""
        pool = self.node("pool", c, c, width, down=down)
        head = self.node("linear", c, 0, width)
        self.edge(prev, pool)
        self.edge(pool, head)

    def data(self, arch: Arch) -> Data:
        edge_index = torch.tensor([[s for s, _, _ in self.edges], [d for _, d, _ in self.edges]])
        kinds = torch.tensor([k for _, _, k in self.edges])
        return Data(
            x=torch.tensor(self.rows, dtype=torch.float),
            edge_index=edge_index.long(),
            edge_attr=torch.nn.functional.one_hot(kinds, len(EDGE_TYPES)).float(),
            op=torch.tensor(self.ops, dtype=torch.long),
            arch_id=arch.id,
            num_nodes=len(self.rows),
        )


def _build(space: ResNetSpace, arch: Arch) -> _GraphBuilder:
    channels = space.channels(arch)
    g = _GraphBuilder(space.num_stages)
    stem_c = channels[0][0]
    prev = g.node("input", 0, 0, 0)
    stem = g.node("stem", 0, stem_c, space.widths[0])
    g.edge(prev, stem)
    prev, c_prev, down = stem, stem_c, 1
    for s, (stage, width) in enumerate(zip(channels, space.widths, strict=True)):
        for b, c in enumerate(stage):
            stride = space.strides[s] if b == 0 else 1
            down *= stride
            pos = _Position(s, b, space.depths[s], b == len(stage) - 1)
            adapt = stride > 1 or c != c_prev
            prev = g.block(prev, c_prev, c, width, pos, stride=stride, down=down, adapt=adapt)
            c_prev = c
    g.head(prev, c_prev, space.widths[-1], down)
    return g


def resnet_to_graph(space: ResNetSpace, arch: Arch) -> Data:
    r"""Encodes a member of a [`ResNetSpace`][dassgnn.space.ResNetSpace] as a directed graph.

    One node per layer, in topological order: the input, the stem
    (conv-BN-ReLU), and for every block its first convolution (conv-BN-ReLU),
    its second (conv-BN), its shortcut (``skip``, or ``skip_adapt`` where it
    pads, drops or pools) and the addition with ReLU; then global pooling and
    the linear head. ``flow`` edges follow the data through the convolutions,
    ``residual`` edges run from a block's input through its shortcut to the
    addition. Node features ([`NODE_FEATURES`][dassgnn.space.NODE_FEATURES]) hold the op type, the
    channels relative to the teacher's at that place and on a log scale, the
    stride and resolution, and the stage and block position, so two different
    architectures never give the same graph.

    Args:
        space (ResNetSpace): The space.
        arch (Arch): A member of ``space``.

    Returns:
        Data: ``x`` $(|V|, F)$ with $F$ = ``NUM_NODE_FEATURES``,
        ``edge_index`` $(2, |E|)$, ``edge_attr`` $(|E|, 2)$ one-hot
        edge types, ``op`` $(|V|,)$ op indices into [`OPS`][dassgnn.space.OPS], and
        ``arch_id``. Graphs batch with `torch_geometric.data.Batch`.
    """
    return _build(space, arch).data(arch)


def resnet_to_networkx(space: ResNetSpace, arch: Arch) -> nx.DiGraph:
    """The graph of [`resnet_to_graph()`][dassgnn.space.resnet_to_graph] as a `networkx.DiGraph` for
    drawing: nodes carry ``op``, ``in_channels``, ``out_channels``, ``stride``,
    ``stage``, ``block`` and a readable ``label``; edges carry ``kind``."""
    g = _build(space, arch)
    graph = nx.DiGraph(arch_id=arch.id)
    for i, meta in enumerate(g.meta):
        label = meta["op"]
        if meta["out_channels"]:
            label += f" {meta['out_channels']}"
        if meta["stride"] > 1:
            label += f" /{meta['stride']}"
        graph.add_node(i, label=label, **meta)
    for src, dst, kind in g.edges:
        graph.add_edge(src, dst, kind=EDGE_TYPES[kind])
    return graph
