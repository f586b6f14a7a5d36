"""The search-space protocol, the shared base class and the registry of spaces.

Everything that knows what a network of a space looks like lives behind
[`SearchSpace`][dassgnn.space.SearchSpace]: parsing and checking architectures, building networks,
counting their cost, remapping a teacher's weights into a student, and
encoding an architecture as a graph. The records, the collector, KD training,
the predictor and search only call these methods, so a new space plugs in by
implementing them and registering itself::

    from dassgnn.space import BaseSpace, register_space

    @register_space("my_space")
    class MySpace(BaseSpace):
        name = "my_space"
        ...

``tests/space/test_conformance.py`` runs every registered space through the
same checks.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from dassgnn.registry import Registry
from dassgnn.space.arch import WIDTH_DENOMINATOR, Arch

ARCH_FEATURES: tuple[str, ...] = (
    "log_params",
    "log_flops",
    "depth_first",
    "depth_middle",
    "depth_last",
    "width_first",
    "width_middle",
    "width_last",
)
"""The names of the columns of [`BaseSpace.arch_features()`][dassgnn.space.BaseSpace.arch_features]:
the logarithms of the student's parameters and FLOPs over the teacher's, and the depth
and mean width of its first, middle (the mean of the inner stages) and last stage,
relative to the teacher's."""


@dataclass(frozen=True)
class GraphSchema:
    """What the graphs of a space hold: the names behind the columns of
    ``Data.x``, the node operation types and the edge types.

    A graph encoder sized by one schema reads the graphs of every space with
    the same schema; the predictor's checkpoint stores it to refuse others.

    Args:
        ops (tuple[str, ...]): Node operation types, in the order of ``Data.op``.
        node_features (tuple[str, ...]): Names of the columns of ``Data.x``.
        edge_types (tuple[str, ...]): Edge types, in the one-hot order of ``Data.edge_attr``.
    """

    ops: tuple[str, ...]
    node_features: tuple[str, ...]
    edge_types: tuple[str, ...]

    @property
    def num_node_features(self) -> int:
        """Columns of ``Data.x``."""
        return len(self.node_features)

    @property
    def num_edge_features(self) -> int:
        """Columns of ``Data.edge_attr``."""
        return len(self.edge_types)

    def to_dict(self) -> dict[str, list[str]]:
        """A JSON-ready dict."""
        return {
            "ops": list(self.ops),
            "node_features": list(self.node_features),
            "edge_types": list(self.edge_types),
        }


def space_key(space: SearchSpace | Mapping[str, Any]) -> str:
    """The stable key of a search space: ``"<name>-<12 hex digits of sha1>"`` of
    the canonical JSON of its settings
    ([`SearchSpace.to_dict()`][dassgnn.space.SearchSpace.to_dict]).

    Args:
        space (SearchSpace or Mapping): A space or its settings dict.

    Returns:
        str: The key, e.g. ``"resnet-1a2b3c4d5e6f"``.

    Raises:
        TypeError: If ``space`` is neither a mapping nor has ``to_dict()``.
    """
    data = space_settings(space)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return f"{data.get('name', 'space')}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}"


def space_settings(space: SearchSpace | Mapping[str, Any]) -> dict[str, Any]:
    """A space's settings as a plain dict (a mapping is copied as it is).

    Raises:
        TypeError: If ``space`` is neither a mapping nor has ``to_dict()``.
    """
    if isinstance(space, Mapping):
        return dict(space)
    to_dict = getattr(space, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    raise TypeError(
        f"space must be a search space or its settings dict, got {type(space).__name__}"
    )


@runtime_checkable
class SearchSpace(Protocol):
    """What a search space provides. [`ResNetSpace`][dassgnn.space.ResNetSpace] is the
    reference implementation; [`BaseSpace`][dassgnn.space.BaseSpace] implements the generic part.

    An architecture is an [`Arch`][dassgnn.space.Arch]: a depth per stage and
    one integer choice per block, whose meaning (a width, a kernel, an
    expansion ratio) is the space's business. Its string id is what the
    records store; `parse()` turns it back into a checked member.
    """

    name: str
    """The registered name of the space."""

    @property
    def key(self) -> str:
        """The stable key of the space and its settings
        ([`space_key()`][dassgnn.space.space_key])."""
        ...

    @property
    def teacher(self) -> Arch:
        """The largest member, the teacher's own architecture."""
        ...

    @property
    def graph_schema(self) -> GraphSchema:
        """What the graphs of `to_graph()` hold."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The settings that recreate the space with
        [`space_from_dict()`][dassgnn.space.space_from_dict], with ``"name"``."""
        ...

    def why_not(self, arch: Any) -> str | None:
        """Why ``arch`` is not a member, or `None` if it is."""
        ...

    def contains(self, arch: Any) -> bool:
        """Whether ``arch`` is a member of the space."""
        ...

    def check(self, arch: Any) -> Arch:
        """Returns ``arch`` if it is a member; raises a `ValueError` naming why not."""
        ...

    def parse(self, arch_id: str) -> Arch:
        """The member whose id is ``arch_id`` (checked)."""
        ...

    def canonical(self, arch: Arch) -> Arch:
        """The one representative of every encoding that builds the same network."""
        ...

    def sample(self, n: int, seed: int) -> list[Arch]:
        """``n`` distinct canonical members, reproducibly from ``seed``."""
        ...

    def build(
        self, arch: Arch, num_classes: int, in_channels: int = 3, seed: int | None = None
    ) -> nn.Module:
        """The network of ``arch``; ``seed`` fixes its initial weights without
        touching the global random state."""
        ...

    def params(self, arch: Arch, num_classes: int, in_channels: int = 3) -> int:
        """Trainable parameters of `build()` (analytic)."""
        ...

    def flops(
        self,
        arch: Arch,
        num_classes: int,
        in_channels: int = 3,
        image_size: int | tuple[int, int] = 32,
    ) -> int:
        """Multiply-accumulate operations of one forward pass on an image of
        ``image_size`` (an int for square images, or ``(height, width)``), analytic."""
        ...

    def remap(
        self, teacher: nn.Module, student: nn.Module, strategy: str = "copy_first"
    ) -> nn.Module:
        """Initialises ``student`` in place from ``teacher``'s weights and returns it."""
        ...

    def features(self, model: nn.Module, x: Tensor) -> list[Tensor]:
        """The feature maps of a network of the space on ``x``: the stem's and each stage's."""
        ...

    def to_graph(self, arch: Arch) -> Data:
        """The architecture as a PyG graph following `graph_schema`."""
        ...

    def arch_features(
        self,
        archs: Sequence[Arch],
        num_classes: int,
        in_channels: int = 3,
        image_size: int | tuple[int, int] = 32,
    ) -> np.ndarray:
        """$(n, 8)$ simple features relative to the teacher
        ([`ARCH_FEATURES`][dassgnn.space.base.ARCH_FEATURES])."""
        ...


class BaseSpace:
    """The generic part of a search space: identity (key, equality, hashing)
    from `to_dict()`, and membership (``contains``, ``check``, ``parse``,
    ``in``) from `why_not()`. Subclasses implement the rest of
    [`SearchSpace`][dassgnn.space.SearchSpace]."""

    name: str = "space"

    def to_dict(self) -> dict[str, Any]:
        """The settings with ``"name"``; subclasses add theirs."""
        return {"name": self.name}

    @property
    def key(self) -> str:
        """The stable key of the space and its settings
        ([`space_key()`][dassgnn.space.space_key])."""
        return space_key(self.to_dict())

    def why_not(self, arch: Any) -> str | None:
        """Why ``arch`` is not a member, or `None` if it is."""
        raise NotImplementedError

    def contains(self, arch: Any) -> bool:
        """Whether ``arch`` is a member (in any of its encodings)."""
        return self.why_not(arch) is None

    def __contains__(self, arch: object) -> bool:
        return self.contains(arch)

    def check(self, arch: Any) -> Arch:
        """Returns ``arch`` if it is a member.

        Raises:
            TypeError: If ``arch`` is not an [`Arch`][dassgnn.space.Arch].
            ValueError: If it is outside the space (the message says why).
        """
        reason = self.why_not(arch)
        if reason is None:
            return arch
        if not isinstance(arch, Arch):
            raise TypeError(reason)
        raise ValueError(f"arch outside the space {self!r}: {reason}")

    def parse(self, arch_id: str) -> Arch:
        """The member whose id is ``arch_id``.

        Raises:
            TypeError: If ``arch_id`` is not a string.
            ValueError: If it is malformed or names an architecture outside the space.
        """
        return self.check(Arch.from_id(arch_id))

    def arch_features(
        self,
        archs: Sequence[Arch],
        num_classes: int,
        in_channels: int = 3,
        image_size: int | tuple[int, int] = 32,
    ) -> np.ndarray:
        """Simple features of each architecture, relative to the teacher, in the
        order of [`ARCH_FEATURES`][dassgnn.space.base.ARCH_FEATURES]: the same
        eight columns for every space and stage count (the teacher's row is
        ``[0, 0, 1, 1, 1, 1, 1, 1]``). Used by the ``ridge`` ranking method and as
        the DaSS predictor's size prior.

        The generic version reads an [`Arch`][dassgnn.space.Arch] as depths per
        stage and widths in sixteenths of the teacher's; a space whose choices
        mean something else overrides it.

        Args:
            archs (Sequence[Arch]): Members of the space.
            num_classes (int): Classes of the task.
            in_channels (int, optional): Image channels. (default: `3`)
            image_size (int or tuple[int, int], optional): Image size. (default: `32`)

        Returns:
            np.ndarray: float64 $(len(archs), 8)$.
        """
        archs = self.check_all(archs)
        space: Any = self  # a full space: params, flops and teacher come from the subclass
        teacher = space.teacher
        t_params = space.params(teacher, num_classes, in_channels)
        t_flops = space.flops(teacher, num_classes, in_channels, image_size)
        rows = []
        for a in archs:
            depth = [d / t for d, t in zip(a.depths, teacher.depths, strict=True)]
            width = [float(np.mean(w)) / WIDTH_DENOMINATOR for w in a.widths]
            rows.append(
                [
                    math.log(space.params(a, num_classes, in_channels) / t_params),
                    math.log(space.flops(a, num_classes, in_channels, image_size) / t_flops),
                    *_first_middle_last(depth),
                    *_first_middle_last(width),
                ]
            )
        return np.asarray(rows, dtype=np.float64).reshape(len(archs), len(ARCH_FEATURES))

    def graph_batch(self, archs: Sequence[Arch]) -> Batch:
        """The graphs of many architectures as one `Batch` (spaces may override
        this with a faster builder that gives the same graphs)."""
        return Batch.from_data_list([self.to_graph(a) for a in archs])  # type: ignore[attr-defined]

    def check_all(self, archs: Sequence[Any], name: str = "archs") -> list[Arch]:
        """Checks a non-empty sequence of members (the message names the first bad one).

        Raises:
            TypeError: If ``archs`` is not a sequence.
            ValueError: If it is empty or holds a non-member.
        """
        if isinstance(archs, (str, bytes)) or not isinstance(archs, Sequence):
            raise TypeError(f"{name} must be a sequence of Arch, got {type(archs).__name__}")
        if not archs:
            raise ValueError(f"{name} is empty: give at least one architecture")
        out = []
        for i, arch in enumerate(archs):
            try:
                out.append(self.check(arch))
            except (TypeError, ValueError) as error:
                raise type(error)(f"{name}[{i}]: {error}") from None
        return out

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.key)


def _first_middle_last(values: Sequence[float]) -> tuple[float, float, float]:
    inner = values[1:-1] or values
    return values[0], float(np.mean(inner)), values[-1]


SPACES: Registry[SearchSpace] = Registry("search space")
"""The registry of search spaces."""


def register_space(name: str) -> Any:
    """Decorator that registers a search-space class under ``name``."""
    return SPACES.register(name)


def create_space(name: str, **kwargs: Any) -> SearchSpace:
    """Creates the space registered under ``name`` with the given settings."""
    return SPACES.create(name, **kwargs)


def list_spaces(pattern: str | None = None) -> list[str]:
    """The names of the registered search spaces."""
    return SPACES.list(pattern)


def space_from_dict(data: Mapping[str, Any]) -> SearchSpace:
    """Recreates a space from ``{"name": ..., **settings}`` (see ``to_dict``)."""
    if not isinstance(data, Mapping) or "name" not in data:
        raise ValueError(f"a space dict needs a 'name' key, got {data!r}")
    settings = {k: v for k, v in data.items() if k != "name"}
    return create_space(data["name"], **settings)


def as_space(space: SearchSpace | Mapping[str, Any]) -> SearchSpace:
    """``space`` itself, or the space its settings dict describes."""
    if isinstance(space, Mapping):
        return space_from_dict(space)
    if not isinstance(space, SearchSpace):
        raise TypeError(
            f"space must be a search space or its settings dict, got {type(space).__name__}"
        )
    return space
