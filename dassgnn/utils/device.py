"""Checking a torch device before any work starts."""

from __future__ import annotations

from typing import Any

__all__ = ["check_device"]


def check_device(device: Any, *, local: bool = True) -> str:
    """Checks that ``device`` names a torch device and, with ``local``, that this
    machine has it, before any work starts.

    Args:
        device (Any): E.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``.
        local (bool, optional): Also check that this machine can use it (not
            for a Ray cluster elsewhere). (default: `True`)

    Returns:
        str: The device.

    Raises:
        TypeError: If ``device`` is not a string.
        ValueError: If it is not a torch device (``"gpu"``), or this machine has
            no such device (``"cuda"`` without a GPU).
    """
    import torch

    if not isinstance(device, str) or not device:
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    try:
        parsed = torch.device(device)
    except RuntimeError:
        hint = " (did you mean 'cuda'?)" if device.lower().startswith("gpu") else ""
        raise ValueError(
            f"device {device!r} is not a torch device{hint}; use 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from None
    if not local or parsed.type == "cpu":
        return device
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"device {device!r} is not usable: torch finds no CUDA GPU on this machine "
                "(torch.cuda.is_available() is False); use device 'cpu'"
            )
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"device {device!r} is not usable: this machine has {count} GPU(s)")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} is not usable: MPS is not available here")
    else:
        try:
            torch.empty(1, device=parsed)
        except Exception as err:
            raise ValueError(f"device {device!r} is not usable here: {err}") from None
    return device
