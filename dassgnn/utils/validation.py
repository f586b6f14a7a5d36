"""Argument checks shared by the whole library.

Every public function validates its inputs with these helpers, so that a bad
value fails early with a message that names the parameter and the value
received. Integers accept Python and NumPy integers (never ``bool``), floats
accept any finite real number (never ``bool`` or a string).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def _int_range_text(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"in [{minimum}, {maximum}]"
    if minimum is not None:
        return f">= {minimum}"
    return f"<= {maximum}"


def _plural_range_text(minimum: int | None, maximum: int | None) -> str:
    return f"ints {_int_range_text(minimum, maximum)}"


def check_int(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Checks that ``value`` is an integer in ``[minimum, maximum]``.

    Args:
        value (Any): The value; Python and NumPy integers pass, ``bool`` does not.
        name (str): Its name, for the error message.
        minimum (int, optional): The smallest allowed value. (default: `None`)
        maximum (int, optional): The largest allowed value. (default: `None`)

    Returns:
        int: The value as a Python ``int``.

    Raises:
        TypeError: If ``value`` is not an integer.
        ValueError: If it lies outside the range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {_int_range_text(minimum, maximum)}, got {value}")
    return value


MAX_SEED = 2**63 - 1
"""The largest seed: records keep seeds in SQLite's 64-bit signed integers."""


def check_seed(value: Any, name: str = "seed") -> int:
    """Checks that ``value`` is a seed: an integer in $[0, 2^{63} - 1]$ (the records keep
    seeds as SQLite's 64-bit signed integers).

    Args:
        value (Any): The value.
        name (str, optional): Its name, for the error message. (default: `"seed"`)

    Returns:
        int: The seed.

    Raises:
        TypeError: If ``value`` is not an integer.
        ValueError: If it is negative or does not fit 64 bits.
    """
    return check_int(value, name, minimum=0, maximum=MAX_SEED)


def check_ints(
    values: Any,
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    nonempty: bool = False,
) -> tuple[int, ...]:
    """Checks that ``values`` is a sequence of integers, each in ``[minimum, maximum]``.

    Args:
        values (Any): A list, tuple or 1-D array (not a string, not a scalar).
        name (str): Its name, for the error message.
        minimum (int, optional): Smallest allowed element. (default: `None`)
        maximum (int, optional): Largest allowed element. (default: `None`)
        nonempty (bool, optional): Reject an empty sequence. (default: `False`)

    Returns:
        tuple[int, ...]: The values.

    Raises:
        TypeError: If ``values`` is not a sequence or holds a non-integer.
        ValueError: If it is empty (with ``nonempty``) or an element is out of range.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise TypeError(
            f"{name} must be a sequence of ints, got {type(values).__name__} {values!r}"
        )
    if nonempty and len(values) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of ints, got {tuple(values)!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must hold ints, got {v!r} ({type(v).__name__})")
        out.append(int(v))
    if any(
        (minimum is not None and v < minimum) or (maximum is not None and v > maximum) for v in out
    ):
        raise ValueError(
            f"{name} must hold {_plural_range_text(minimum, maximum)}, got {tuple(out)!r}"
        )
    return tuple(out)


def check_float(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_open: bool = False,
    max_open: bool = False,
) -> float:
    """Checks that ``value`` is a finite real number in the given interval.

    Args:
        value (Any): The value; ints and NumPy floats pass, ``bool`` and strings do not.
        name (str): Its name, for the error message.
        minimum (float, optional): Lower bound. (default: `None`)
        maximum (float, optional): Upper bound. (default: `None`)
        min_open (bool, optional): Exclude the lower bound itself. (default: `False`)
        max_open (bool, optional): Exclude the upper bound itself. (default: `False`)

    Returns:
        float: The value as a Python ``float``.

    Raises:
        TypeError: If ``value`` is not a real number.
        ValueError: If it is not finite or lies outside the interval.
    """
    low = "" if minimum is None else ("(" if min_open else "[") + f"{minimum}"
    high = "" if maximum is None else f"{maximum}" + (")" if max_open else "]")
    if minimum is not None and maximum is not None:
        expected = f"a finite number in {low}, {high}"
    elif minimum is not None:
        expected = f"a finite number {'>' if min_open else '>='} {minimum}"
    elif maximum is not None:
        expected = f"a finite number {'<' if max_open else '<='} {maximum}"
    else:
        expected = "a finite number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if minimum is not None:
        bad = bad or value < minimum or (min_open and value == minimum)
    if maximum is not None:
        bad = bad or value > maximum or (max_open and value == maximum)
    if bad:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """Checks that ``value`` is a ``bool`` (or a NumPy bool).

    Raises:
        TypeError: If it is anything else (``0`` and ``"yes"`` included).
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be true or false, got {type(value).__name__} {value!r}")
    return bool(value)


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Checks that ``value`` is one of ``choices``.

    Args:
        value (Any): The value.
        name (str): Its name, for the error message.
        choices (Iterable[str]): The valid values.

    Returns:
        str: The value.

    Raises:
        ValueError: If it is not one of ``choices`` (the message lists them).
    """
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view of ``array`` (the array itself stays writable)."""
    view = array.view()
    view.flags.writeable = False
    return view


def plural(n: int, noun: str) -> str:
    """``"1 class"``, ``"3 classes"``: a count with its noun (``-es`` after s, x, sh, ch)."""
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {noun}es" if noun.endswith(("s", "x", "sh", "ch")) else f"{n} {noun}s"
