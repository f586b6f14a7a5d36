"""Serialisation helpers of the record store: canonical JSON, keys, tensor blobs.

Everything the store writes goes through these functions, so that equal
objects always give equal bytes (canonical JSON with sorted keys) and keys are
stable across processes and library versions.

``torch`` is imported lazily: opening a store, listing runs and exporting them
do not need it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "canonical_json",
    "decode_state_dict",
    "decode_tensor",
    "encode_state_dict",
    "encode_tensor",
    "sha1_hex",
    "utc_now",
    "weights_sha",
]


def canonical_json(obj: Any) -> str:
    """Serialises ``obj`` as canonical JSON: sorted keys, no spaces.

    Non-finite floats (e.g. the losses of a diverged run) are written as
    ``NaN``/``Infinity``, which Python's `json` reads back.

    Args:
        obj (Any): JSON-serialisable data (dicts, lists, str, int, float, bool, None).

    Returns:
        str: The JSON text.

    Raises:
        TypeError: If ``obj`` holds something JSON cannot represent.
    """
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"))
    except TypeError as err:
        raise TypeError(f"cannot serialise to JSON: {err}") from err


def sha1_hex(text: str) -> str:
    """Returns the SHA-1 hex digest of ``text`` encoded as UTF-8.

    Args:
        text (str): The text.

    Returns:
        str: 40 hex digits.
    """
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def weights_sha(blob: bytes) -> str:
    """Returns the SHA-1 hex digest of a weights blob, as stored in ``runs.teacher_sha``.

    Args:
        blob (bytes): A blob of `encode_state_dict()` (the bytes a KD run's
            teacher was loaded from).

    Returns:
        str: 40 hex digits.
    """
    return hashlib.sha1(bytes(blob)).hexdigest()


def utc_now() -> str:
    """Returns the current UTC time as ISO 8601 text with second precision.

    Returns:
        str: E.g. ``"2024-05-01T12:00:00+00:00"``.
    """
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_tensors(state_dict: Mapping[str, Any]) -> None:
    import torch

    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"state_dict keys must be str, got {name!r}")
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state_dict[{name!r}] must be a Tensor, got {type(value).__name__}")


def encode_state_dict(state_dict: Mapping[str, Tensor]) -> bytes:
    """Serialises a state dict with floating tensors cast to float16.

    Integer and boolean tensors (e.g. ``num_batches_tracked``) are kept as they
    are. The bytes are what `torch.save()` writes and can be read with
    ``torch.load(io.BytesIO(blob), weights_only=True)``.

    Args:
        state_dict (Mapping[str, Tensor]): E.g. ``model.state_dict()``.

    Returns:
        bytes: The serialised state dict.

    Raises:
        TypeError: If a key is not a str or a value not a tensor.
        ValueError: If a finite value overflows float16 (magnitude > 65504).
    """
    import torch

    _check_tensors(state_dict)
    out: dict[str, Tensor] = {}
    for name, value in state_dict.items():
        tensor = value.detach().cpu()
        if tensor.is_floating_point():
            half = tensor.to(torch.float16)
            if not torch.equal(torch.isfinite(half), torch.isfinite(tensor)):
                raise ValueError(
                    f"state_dict[{name!r}] has values outside the float16 range (|x| > 65504)"
                )
            tensor = half
        # clone: a view would otherwise drag its whole storage into the file
        out[name] = tensor.contiguous().clone()
    buffer = io.BytesIO()
    torch.save(out, buffer)
    return buffer.getvalue()


def decode_state_dict(blob: bytes) -> dict[str, Tensor]:
    """Reads a state dict written by `encode_state_dict()`, floats as float32.

    Args:
        blob (bytes): The serialised state dict.

    Returns:
        dict[str, Tensor]: The tensors, in their original order; floating ones
        as float32, others with their stored dtype.

    Raises:
        ValueError: If ``blob`` is not a serialised dict of tensors.
    """
    import torch

    try:
        loaded = torch.load(io.BytesIO(bytes(blob)), weights_only=True, map_location="cpu")
    except Exception as err:  # torch raises several types for bad archives
        raise ValueError(f"weights blob is not a serialised state dict: {err}") from err
    if not isinstance(loaded, dict):
        raise ValueError(f"weights blob holds a {type(loaded).__name__}, not a state dict")
    return {name: t.to(torch.float32) if t.is_floating_point() else t for name, t in loaded.items()}


def encode_tensor(tensor: Tensor) -> tuple[str, tuple[int, ...], bytes]:
    """Splits a tensor into its dtype name, shape and raw little-endian bytes.

    Args:
        tensor (Tensor): Any dense CPU or device tensor.

    Returns:
        tuple[str, tuple[int, ...], bytes]: E.g. ``("float32", (3, 4), b"...")``.

    Raises:
        TypeError: If ``tensor`` is not a dense tensor.
    """
    import torch

    if not isinstance(tensor, torch.Tensor) or tensor.layout != torch.strided:
        raise TypeError(f"tensor must be a dense Tensor, got {type(tensor).__name__}")
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    dtype = str(flat.dtype).removeprefix("torch.")
    data = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
    return dtype, tuple(int(s) for s in tensor.shape), data


def decode_tensor(dtype: str, shape: tuple[int, ...] | list[int], data: bytes) -> Tensor:
    """Inverse of `encode_tensor()`.

    Args:
        dtype (str): A torch dtype name, e.g. ``"float32"``.
        shape (tuple[int, ...] or list[int]): The tensor's shape.
        data (bytes): The raw bytes.

    Returns:
        Tensor: A new CPU tensor.

    Raises:
        ValueError: If ``dtype`` is unknown or ``data`` has the wrong length.
    """
    import torch

    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise ValueError(f"unknown tensor dtype {dtype!r}")
    shape = tuple(int(s) for s in shape)
    count = math.prod(shape)
    itemsize = torch.empty((), dtype=torch_dtype).element_size()
    if len(data) != count * itemsize:
        raise ValueError(
            f"tensor blob has {len(data)} bytes, expected {count * itemsize} for {dtype} {shape}"
        )
    if count == 0:
        return torch.empty(shape, dtype=torch_dtype)
    raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    return raw.view(torch_dtype).reshape(shape).clone()
