"""Few-shot search: choose a few informative candidates, KD-train them, and let the
ranking method adapt on their measured accuracies before it ranks the rest.

The $k$ students are chosen among the candidates within the budget, spread over the cost
range: the candidates are cut into $k$ bins of equal size by parameter count, and from each
bin the one the method scores highest before any measurement is taken (so that every
measured student is also a good candidate of its size, and the support set spans the sizes
the ranking must compare). They are trained with the recipe the predictor's labels were
made with, so that their accuracies mean what the predictor predicts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from dassgnn.kd import Recipe, distill
from dassgnn.space import Arch, SearchSpace

__all__ = ["MeasuredStudent", "choose_shots", "label_recipe", "measure_students"]


@dataclass(frozen=True)
class MeasuredStudent:
    """A student the search KD-trained to adapt the ranking method.

    Args:
        arch (Arch): The student.
        accuracy (float): Its test accuracy after KD, in $[0, 1]$.
        params (int): Trainable parameters.
        flops (int): Multiply-accumulates of one forward pass.
        seconds (float): Wall time of its KD training.
        predicted (float): The method's score of it before any measurement.
    """

    arch: Arch
    accuracy: float
    params: int
    flops: int
    seconds: float
    predicted: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``arch`` as its id)."""
        return {
            "arch": self.arch.id,
            "accuracy": self.accuracy,
            "params": self.params,
            "flops": self.flops,
            "seconds": self.seconds,
            "predicted": None if math.isnan(self.predicted) else self.predicted,
        }


def choose_shots(
    archs: Sequence[Arch], scores: np.ndarray, params: Sequence[int], k: int
) -> list[Arch]:
    """``k`` candidates spread over the cost range (see the module's text): the best-scored
    of each of ``k`` equal bins of the candidates ordered by parameters (ties by id).

    Args:
        archs (Sequence[Arch]): The candidates within the budget.
        scores (np.ndarray): The method's scores of them before any measurement.
        params (Sequence[int]): Their parameter counts.
        k (int): How many to choose (at most ``len(archs)``).

    Returns:
        list[Arch]: The chosen candidates, cheapest bin first.
    """
    if k <= 0:
        return []
    if k > len(archs):
        raise ValueError(f"shots={k} but only {len(archs)} candidates fit the budget")
    order = sorted(range(len(archs)), key=lambda i: (params[i], archs[i].id))
    chosen = []
    for part in np.array_split(np.asarray(order), k):
        best = max(part.tolist(), key=lambda i: (np.nan_to_num(scores[i], nan=-np.inf), -i))
        chosen.append(archs[best])
    return chosen


def label_recipe(method: Any) -> Recipe:
    """The recipe a measured student is trained with: the one the method's training labels
    were made with (stored in a predictor checkpoint), else the committed meta-dataset's
    (``dassgnn/assets/meta_dataset.toml``)."""
    stored = getattr(method, "recipe_", None)
    if stored:
        return Recipe.from_dict(dict(stored))
    from pathlib import Path

    from dassgnn.collect import Plan

    plan = Path(__file__).resolve().parents[1] / "assets" / "meta_dataset.toml"
    return Plan.from_file(plan).recipe


def measure_students(
    space: SearchSpace,
    archs: Sequence[Arch],
    data: Any,
    teacher: nn.Module,
    recipe: Recipe,
    *,
    predicted: Sequence[float] | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> list[MeasuredStudent]:
    """KD-trains each of ``archs`` from ``teacher`` with ``recipe`` on ``device`` (a progress
    bar a student with ``progress``) and returns their measured accuracies and times."""
    from tqdm.auto import tqdm

    k, c, size = data.num_classes, data.channels, data.image_size
    out = []
    bar = tqdm(list(archs), desc="training measured students", disable=not progress)
    for i, arch in enumerate(bar):
        start = time.perf_counter()
        _, run = distill(space, arch, data, teacher, recipe, seed=seed, device=device)
        out.append(
            MeasuredStudent(
                arch=arch,
                accuracy=float(run.test_acc),
                params=space.params(arch, k, c),
                flops=space.flops(arch, k, c, size),
                seconds=time.perf_counter() - start,
                predicted=math.nan if predicted is None else float(predicted[i]),
            )
        )
        bar.set_postfix(acc=f"{100 * run.test_acc:.1f}%")
    return out
