"""Predictor checkpoints: where the committed ones lie, how a file is read and checked, and
[`load_ranker`][dassgnn.predictor.load_ranker], the one way to get a ready ranking method by
name."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

import dassgnn
from dassgnn.ranking import RankingMethod

CHECKPOINT_FORMAT = "dassgnn-predictor"
"""The ``format`` field of a predictor checkpoint."""
CHECKPOINT_VERSION = 2
"""Bumped whenever a checkpoint of an older layout can no longer be read (2: the size
prior, few-shot adaptation and the method's name in the checkpoint)."""


PREDICTOR_ENV = "DASSGNN_PREDICTOR"
"""The environment variable that points at another predictor checkpoint."""


def checkpoint_path(name: str) -> Path:
    """Where the committed checkpoint of the learned ranking method ``name`` lies:
    ``dassgnn/assets/checkpoints/<name>.pt`` (see the README beside it)."""
    return Path(__file__).resolve().parents[1] / "assets" / "checkpoints" / f"{name}.pt"


def default_checkpoint_path() -> Path:
    """The predictor checkpoint the library uses without configuration: the
    ``DASSGNN_PREDICTOR`` environment variable, else the committed
    ``dassgnn/assets/checkpoints/dass.pt``."""
    env = os.environ.get(PREDICTOR_ENV)
    return Path(env) if env else checkpoint_path("dass")


def load_ranker(
    name: str, records: Any = None, *, checkpoint: Any = None, progress: bool = False
) -> RankingMethod:
    """A ranking method ready to score, by name: the one way the search and the benchmark
    get one. A training-free method is created (and its no-op ``fit`` called); a learned
    one is loaded from ``checkpoint``, else from its committed checkpoint
    ([`checkpoint_path`][dassgnn.predictor.checkpoint_path]; for ``"dass"``
    [`default_checkpoint_path`][dassgnn.predictor.default_checkpoint_path], which
    ``DASSGNN_PREDICTOR`` can point elsewhere), else fitted on ``records``. The loaded
    file is kept as ``method.checkpoint_`` (the benchmark hashes it).

    Args:
        name (str): A registered ranking method.
        records (RecordStore, optional): What a learned method without a checkpoint is
            fitted on.
        checkpoint (str or PathLike, optional): A checkpoint to load instead of the
            committed one.
        progress (bool, optional): Progress bars (and a line before a fit). (default: `False`)

    Raises:
        KeyError: For an unknown name (the message lists the valid ones).
        CheckpointError: If the checkpoint is not one of this method.
        ValueError: If a learned method has neither a checkpoint nor records to fit on.
    """
    from dassgnn.predictor.episodes import task_keys
    from dassgnn.ranking import create_ranker

    method = create_ranker(name)
    if not method.needs_fit:
        return method.fit(None)
    path = Path(checkpoint) if checkpoint is not None else None
    if path is None:
        path = default_checkpoint_path() if name == "dass" else checkpoint_path(name)
    load = getattr(type(method), "load", None)
    if load is not None and (checkpoint is not None or path.is_file()):
        loaded = load(path)
        loaded.checkpoint_ = path
        return loaded
    mode = getattr(method, "label_mode", "kd")
    if records is None or not task_keys(records, "meta-train", mode):
        raise ValueError(
            f"no checkpoint at {path}, and no records with meta-train tasks of {mode} runs "
            f"to fit {name} on"
        )
    if progress:
        print(f"{name}: no checkpoint at {path}; fitting it on the records (minutes)", flush=True)
    return method.fit(records)


def load_default_predictor(progress: bool = False) -> Any:
    """The meta-trained predictor of
    [`default_checkpoint_path`][dassgnn.predictor.default_checkpoint_path]."""
    from dassgnn.predictor.estimator import DaSSRanker

    return DaSSRanker.load(default_checkpoint_path(), progress=progress)


def _half(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors in float16 (checkpoints stay small; predictions change by
    less than the float16 rounding of the weights)."""
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def _full(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


class CheckpointError(ValueError):
    """A file that is not a predictor checkpoint, or one this library cannot use."""


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """The checked contents of a predictor checkpoint file."""
    if path.is_dir():
        raise CheckpointError(f"{str(path)!r} is a directory, not a predictor checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"predictor checkpoint {str(path)!r} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{str(path)!r} is empty, not a predictor checkpoint")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"{str(path)!r} is not a dassgnn predictor checkpoint ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:200] if str(error) else 'unreadable'})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a dassgnn predictor checkpoint")
    if data.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} is a predictor checkpoint of format version "
            f"{data.get('version')} (library {data.get('library_version')}); this library "
            f"({dassgnn.__version__}) reads version {CHECKPOINT_VERSION}: refit it"
        )
    if data.get("library_version") != dassgnn.__version__:
        warnings.warn(
            f"{path.name} was written by dassgnn {data.get('library_version')}, this is "
            f"{dassgnn.__version__}",
            stacklevel=3,
        )
    return data
