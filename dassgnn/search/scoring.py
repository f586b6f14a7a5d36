"""Scoring candidates with a ranking method in chunks, with a cache, and measuring latency."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from dassgnn.ranking import RankingMethod, Teacher
from dassgnn.space import Arch, SearchSpace
from dassgnn.utils.validation import check_int

__all__ = ["Scorer", "measure_latency"]


@torch.no_grad()
def measure_latency(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    device: str | torch.device = "cpu",
    warmup: int = 3,
    repeats: int = 10,
) -> float:
    """The median wall-clock time of one forward pass of ``model`` in eval mode, in
    milliseconds, on ``device`` (synchronised on CUDA).

    Timings vary from run to run and with the load of the machine: a search that filters
    by latency is repeatable only as far as the timings are.

    Args:
        model (nn.Module): The network (moved to ``device``).
        input_shape (Sequence[int]): The input's shape, e.g. ``(1, 3, 32, 32)`` for one image.
        device (str or torch.device, optional): Where to run it. (default: `"cpu"`)
        warmup (int, optional): Untimed passes first. (default: `3`)
        repeats (int, optional): Timed passes. (default: `10`)

    Returns:
        float: Milliseconds.
    """
    warmup = check_int(warmup, "warmup", minimum=0)
    repeats = check_int(repeats, "repeats", minimum=1)
    device = torch.device(device)
    model = model.to(device).eval()
    x = torch.randn(*input_shape, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        model(x)
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        sync()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def scoring_teacher(space: SearchSpace, model: nn.Module, accuracy: float | None) -> Teacher:
    """The [`Teacher`][dassgnn.ranking.Teacher] handed to the ranking method."""
    return Teacher(model, space, accuracy)


class Scorer:
    """Scores architectures with a ranking method, ``chunk`` at a time, remembering scores.

    Args:
        method (RankingMethod): A fitted method.
        data (Any): The task's data (a `DatasetSplits`).
        teacher (Teacher): The teacher.
        chunk (int, optional): Candidates per call of ``method.score``. (default: `512`)
        progress (bool, optional): A progress bar. (default: `False`)
        measured (dict[Arch, float], optional): Measured students passed to every call of
            ``method.score`` (none of them may be scored). (default: `None`)
    """

    def __init__(
        self,
        method: RankingMethod,
        data: Any,
        teacher: Teacher,
        chunk: int = 512,
        progress: bool = False,
        measured: dict[Arch, float] | None = None,
    ) -> None:
        self.method, self.data, self.teacher = method, data, teacher
        self.measured = measured
        self.chunk = check_int(chunk, "chunk", minimum=1)
        self.progress = progress
        self.cache: dict[Arch, float] = {}

    def __call__(self, archs: Sequence[Arch]) -> np.ndarray:
        todo = list(dict.fromkeys(a for a in archs if a not in self.cache))
        bar = None
        if self.progress and len(todo) > self.chunk:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="scoring", unit="arch")
        for start in range(0, len(todo), self.chunk):
            part = todo[start : start + self.chunk]
            scores = self.method.score(self.data, self.teacher, part, measured=self.measured)
            self.cache.update(zip(part, (float(s) for s in scores), strict=True))
            if bar is not None:
                bar.update(len(part))
        if bar is not None:
            bar.close()
        return np.array([self.cache[a] for a in archs], dtype=np.float64)

    @property
    def scored(self) -> int:
        """How many distinct architectures were scored."""
        return len(self.cache)

    def best_known(self) -> float:
        """The best score so far (NaN if none)."""
        finite = [s for s in self.cache.values() if not math.isnan(s)]
        return max(finite) if finite else math.nan
