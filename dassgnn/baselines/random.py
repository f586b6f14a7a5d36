"""The random ranking: what any method must beat."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from dassgnn.ranking import RankingMethod, Teacher, register_ranker
from dassgnn.space import Arch
from dassgnn.utils.validation import check_seed


@register_ranker("random")
class RandomRanker(RankingMethod):
    """Scores every candidate with a uniform random number drawn from ``seed``
    and the candidate's id, so a candidate's score does not depend on which
    other candidates are scored with it. Ignores measured students.

    Args:
        seed (int, optional): The seed. (default: `0`)
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _score(
        self, task: Any, teacher: Teacher, archs: list[Arch], measured: dict[Arch, float]
    ) -> np.ndarray:
        seed = check_seed(self.seed)
        out = []
        for arch in archs:
            digest = hashlib.sha1(f"{seed}/{arch.id}".encode()).digest()
            out.append(np.random.default_rng(int.from_bytes(digest[:8], "little")).random())
        return np.asarray(out, dtype=np.float64)
