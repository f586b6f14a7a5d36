"""Small shared helpers: argument checks and scatter reductions.

`dassgnn.utils.validation` needs only NumPy; the scatter helpers import
torch, so they load on first use.
"""

from __future__ import annotations

from typing import Any

from dassgnn.utils.validation import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_ints,
    check_seed,
    readonly,
)

__all__ = [
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_ints",
    "check_seed",
    "readonly",
    "scatter_mean",
    "scatter_sum",
]


def __getattr__(name: str) -> Any:
    if name in ("scatter_mean", "scatter_sum"):
        from dassgnn.utils import scatter

        return getattr(scatter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
