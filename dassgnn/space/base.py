"""The shared base class of search spaces, their settings and keys, and the registry of spaces.

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
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from torch import Tensor, nn
from torch_geometric.data import Batch

from dassgnn.registry import Registry
from dassgnn.space.arch import WIDTH_DENOMINATOR, Arch
from dassgnn.space.encoding import FLAT_SIZE, flat_vector
from dassgnn.space.protocol import SearchSpace

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
            width = [sum(w) / (len(w) * WIDTH_DENOMINATOR) for w in a.widths]
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

    # ------------------------------------------------------------ optional members

    @classmethod
    def from_module(cls, module: nn.Module) -> SearchSpace:
        """The space whose teacher is ``module``
        ([`SearchSpace.from_module()`][dassgnn.space.SearchSpace.from_module]).

        Raises:
            NotImplementedError: Unless overridden: the space cannot be derived from a module.
        """
        raise NotImplementedError(f"{cls.__name__} cannot be derived from a module")

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Tensor], **hints: Any) -> SearchSpace:
        """The space whose teacher's weights are ``state``
        ([`SearchSpace.from_state_dict()`][dassgnn.space.SearchSpace.from_state_dict]).

        Raises:
            NotImplementedError: Unless overridden: the space cannot be derived from weights.
        """
        raise NotImplementedError(f"{cls.__name__} cannot be derived from a state dict")

    @property
    def flat_size(self) -> int:
        """48 ([`FLAT_SIZE`][dassgnn.encoders.FLAT_SIZE]), the size of the default
        `flat_encoding()`."""
        return FLAT_SIZE

    def flat_encoding(self, arch: Arch) -> Tensor:
        """The flat choice vector of the original DaSS code
        (`dassgnn.space.encoding.flat_vector`): per stage a 1, the depth over
        the teacher's, and each block's choice over the teacher's largest in the stage (for
        the ResNet spaces, the width in sixteenths over 16), in a fixed grid of 6 stages of 6
        blocks. A space whose architectures do not fit overrides it with its own.

        Raises:
            ValueError: If ``arch`` is not a member, or has more than 6 stages or a stage of
                more than 6 blocks.
        """
        return flat_vector(self.check(arch), self._space().teacher)

    def genotype_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """See [`SearchSpace.genotype_bounds()`][dassgnn.space.SearchSpace.genotype_bounds].

        Raises:
            NotImplementedError: Unless overridden: the space has no genotype.
        """
        raise NotImplementedError(self._no(_GENOTYPE))

    def genotype(self, arch: Arch) -> np.ndarray:
        """See [`SearchSpace.genotype()`][dassgnn.space.SearchSpace.genotype].

        Raises:
            NotImplementedError: Unless overridden: the space has no genotype.
        """
        raise NotImplementedError(self._no(_GENOTYPE))

    def from_genotype(self, x: ArrayLike) -> Arch:
        """See [`SearchSpace.from_genotype()`][dassgnn.space.SearchSpace.from_genotype].

        Raises:
            NotImplementedError: Unless overridden: the space has no genotype.
        """
        raise NotImplementedError(self._no(_GENOTYPE))

    def smallest(self) -> Arch:
        """See [`SearchSpace.smallest()`][dassgnn.space.SearchSpace.smallest].

        Raises:
            NotImplementedError: Unless overridden: the space does not know its smallest member.
        """
        raise NotImplementedError(self._no("known smallest member (smallest)"))

    def _no(self, what: str) -> str:
        return f"{self!r} has no {what}"

    def _space(self) -> Any:
        return self  # a full space: teacher, params and flops come from the subclass

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


_GENOTYPE = "genotype (genotype_bounds, genotype, from_genotype)"


def _first_middle_last(values: Sequence[float]) -> tuple[float, float, float]:
    inner = values[1:-1] or values
    return values[0], sum(inner) / len(inner), values[-1]


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
