"""The architecture encoding shared by the block-based search spaces."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dassgnn.utils.validation import check_ints

WIDTH_DENOMINATOR = 16
"""Width multipliers are stored as integer multiples of ``1 / WIDTH_DENOMINATOR``."""


@dataclass(frozen=True)
class Arch:
    r"""An immutable, hashable student architecture: a depth per stage and a
    width multiplier per active block.

    Widths are integers in units of $1/16$ (``WIDTH_DENOMINATOR``), so
    ``16`` is the teacher's width and ``8`` half of it; only the widths of the
    blocks a stage actually has are stored. Whether an [`Arch`][dassgnn.space.Arch] belongs to
    a space, and which network it builds, is the space's business
    ([`ResNetSpace.contains()`][dassgnn.space.ResNetSpace.contains],
    [`ResNetSpace.canonical()`][dassgnn.space.ResNetSpace.canonical]).

    The canonical string id is ``"<depths>|<widths of stage 1>|..."``, e.g.
    ``"2,1|16,12|8"`` for two stages of depth 2 and 1.

    Args:
        depths (Sequence[int]): Number of blocks in each stage (each >= 1).
        widths (Sequence[Sequence[int]]): For each stage, one width multiplier
            (in sixteenths) per block; ``len(widths[s]) == depths[s]``.
    """

    depths: tuple[int, ...]
    widths: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        depths = check_ints(self.depths, "depths")
        if isinstance(self.widths, (str, bytes)) or not isinstance(self.widths, Sequence):
            raise TypeError(f"widths must be a sequence of sequences, got {self.widths!r}")
        widths = tuple(check_ints(w, f"widths[{i}]") for i, w in enumerate(self.widths))
        if not depths:
            raise ValueError("depths must name at least one stage, got ()")
        if any(d < 1 for d in depths):
            raise ValueError(f"every depth must be >= 1, got depths={depths}")
        if len(widths) != len(depths):
            raise ValueError(
                f"widths has {len(widths)} stages but depths has {len(depths)}: {self.widths!r}"
            )
        for s, (d, w) in enumerate(zip(depths, widths, strict=True)):
            if len(w) != d:
                raise ValueError(f"stage {s} has depth {d} but {len(w)} widths: {w}")
            if any(x < 1 for x in w):
                raise ValueError(f"widths must be positive, got {w} in stage {s}")
        object.__setattr__(self, "depths", depths)
        object.__setattr__(self, "widths", widths)

    @property
    def num_stages(self) -> int:
        """Number of stages."""
        return len(self.depths)

    @property
    def num_blocks(self) -> int:
        """Total number of blocks."""
        return sum(self.depths)

    @property
    def id(self) -> str:
        """The canonical string id, e.g. ``"2,1|16,12|8"``."""
        parts = [",".join(map(str, self.depths))]
        parts += [",".join(map(str, w)) for w in self.widths]
        return "|".join(parts)

    @classmethod
    def from_id(cls, arch_id: str) -> Arch:
        """Parses an id made by `id`.

        Raises:
            ValueError: If ``arch_id`` is not of the form ``"d1,d2|w,w|w"``.
        """
        if not isinstance(arch_id, str):
            raise TypeError(f"arch_id must be a str, got {type(arch_id).__name__}")
        try:
            head, *stages = arch_id.split("|")
            depths = [int(x) for x in head.split(",")]
            widths = [[int(x) for x in s.split(",")] for s in stages]
        except ValueError:
            raise ValueError(f"malformed arch id {arch_id!r}: expected 'd1,d2|w,w|w'") from None
        return cls(tuple(depths), tuple(tuple(w) for w in widths))

    def to_dict(self) -> dict[str, list]:
        """A JSON-ready dict ``{"depths": [...], "widths": [[...], ...]}``."""
        return {"depths": list(self.depths), "widths": [list(w) for w in self.widths]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Arch:
        """Inverse of `to_dict()`."""
        if not isinstance(data, dict) or set(data) != {"depths", "widths"}:
            raise ValueError(
                f"an Arch dict has exactly the keys 'depths' and 'widths', got {data!r}"
            )
        return cls(tuple(data["depths"]), tuple(tuple(w) for w in data["widths"]))

    def to_json(self) -> str:
        """Compact JSON text of `to_dict()`."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Arch:
        """Inverse of `to_json()`."""
        return cls.from_dict(json.loads(text))

    def __str__(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"Arch('{self.id}')"
