"""The search-space protocol and its registry."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import nn
from torch_geometric.data import Data

from dassgnn.registry import Registry
from dassgnn.space.arch import Arch


@runtime_checkable
class SearchSpace(Protocol):
    """What a search space provides. :class:`~dassgnn.space.ResNetSpace` is the
    reference implementation; other spaces plug in by implementing this protocol
    and registering with :data:`SPACES`."""

    name: str

    @property
    def teacher(self) -> Arch:
        """The largest member, the teacher's own architecture."""

    def contains(self, arch: Arch) -> bool:
        """Whether ``arch`` is a member of the space."""

    def canonical(self, arch: Arch) -> Arch:
        """The one representative of every encoding that builds the same network."""

    def sample(self, n: int, seed: int) -> list[Arch]:
        """``n`` distinct canonical members, reproducibly from ``seed``."""

    def build(self, arch: Arch, num_classes: int, in_channels: int = 3) -> nn.Module:
        """The network of ``arch``."""

    def params(self, arch: Arch, num_classes: int, in_channels: int = 3) -> int:
        """Trainable parameters of :meth:`build` (analytic)."""

    def flops(
        self, arch: Arch, num_classes: int, in_channels: int = 3, image_size: int = 32
    ) -> int:
        """Multiply-accumulate operations of one forward pass (analytic)."""

    def to_graph(self, arch: Arch) -> Data:
        """The architecture as a PyG graph."""

    def to_dict(self) -> dict[str, Any]:
        """The settings that recreate the space with :func:`create_space`."""


#: The registry of search spaces.
SPACES: Registry[SearchSpace] = Registry("search space")


def register_space(name: str):
    """Decorator that registers a search-space class under ``name``."""
    return SPACES.register(name)


def create_space(name: str, **kwargs: Any) -> SearchSpace:
    """Creates the space registered under ``name`` with the given settings."""
    return SPACES.create(name, **kwargs)


def list_spaces(pattern: str | None = None) -> list[str]:
    """The names of the registered search spaces."""
    return SPACES.list(pattern)


def space_from_dict(data: dict[str, Any]) -> SearchSpace:
    """Recreates a space from ``{"name": ..., **settings}`` (see ``to_dict``)."""
    if not isinstance(data, dict) or "name" not in data:
        raise ValueError(f"a space dict needs a 'name' key, got {data!r}")
    settings = {k: v for k, v in data.items() if k != "name"}
    return create_space(data["name"], **settings)
