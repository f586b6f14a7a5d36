"""The [`SearchSpace`][dassgnn.space.SearchSpace] protocol: what a search space provides.

The records, the collector, KD training, the predictor and search only call these methods, so
a new space plugs in by implementing them ([`BaseSpace`][dassgnn.space.BaseSpace] gives the
generic part, and defaults for the optional ones) and registering itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike
    from torch import Tensor, nn
    from torch_geometric.data import Data

    from dassgnn.space.arch import Arch
    from dassgnn.space.base import GraphSchema


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

    # ------------------------------------------------------------ optional: derivation

    @classmethod
    def from_module(cls, module: nn.Module) -> SearchSpace:
        """The space whose teacher is the trained network ``module``, read off the module
        itself; the space's teacher network loads ``module``'s state dict.

        Optional: a space that cannot be derived from a module raises `NotImplementedError`
        (the default of [`BaseSpace`][dassgnn.space.BaseSpace]); one that cannot take this
        module raises [`UnsupportedModuleError`][dassgnn.space.UnsupportedModuleError], with
        ``expects`` where the module is of another kind altogether.
        """
        ...

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Tensor], **hints: Any) -> SearchSpace:
        """The space whose teacher's weights are ``state``, read off its tensor names and
        shapes; ``hints`` are settings a state dict does not store (such as ``strides``),
        named as in `to_dict()`, each space using those it knows and ignoring the others.
        Optional, as `from_module()`; a state dict of the space's layout that does not hold
        together raises `ValueError`."""
        ...

    # ------------------------------------------------------------ encodings

    @property
    def flat_size(self) -> int:
        """The length of every `flat_encoding()`, fixed for the space."""
        ...

    def flat_encoding(self, arch: Arch) -> Tensor:
        """A float vector of `flat_size` describing ``arch``, the input of the flat
        architecture encoder; raises `ValueError` rather than cut off an architecture that
        does not fit."""
        ...

    def genotype_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The inclusive integer bounds of every genotype, the search variables of the
        evolutionary search. Optional: a space without a genotype raises
        `NotImplementedError`."""
        ...

    def genotype(self, arch: Arch) -> np.ndarray:
        """The integer vector of ``arch``, within `genotype_bounds()`."""
        ...

    def from_genotype(self, x: ArrayLike) -> Arch:
        """The canonical member of a vector, rounded and clipped into `genotype_bounds()`
        first; ``from_genotype(genotype(a)) == a`` for every canonical member ``a``."""
        ...

    def smallest(self) -> Arch:
        """The canonical member with the fewest parameters and FLOPs, for every task shape.
        Optional: a space that cannot tell raises `NotImplementedError`."""
        ...
