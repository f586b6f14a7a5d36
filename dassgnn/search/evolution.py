"""Multi-objective evolutionary search with the predictor as surrogate, on pymoo's NSGA-II
([Deb et al., 2002](https://doi.org/10.1109/4235.996017);
[pymoo](https://pymoo.org/algorithms/moo/nsga2.html)).

A student is a vector of integers: per stage its depth, then, per block slot of the
teacher's stage, the index of its width multiplier (slots beyond the depth are unused and
set to 0). A repair operator rounds, clips and canonicalises every vector, so that equal
vectors are equal networks and pymoo's duplicate elimination sees through encodings. The two
objectives are the ranking method's score (maximised) and the cost (minimised); the
parameter and FLOP budgets are inequality constraints, so NSGA-II's constrained domination
drives the population into the budget. Only candidates within the budget are scored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dassgnn.space import Arch, SearchSpace

PYMOO_MISSING = (
    "strategy='evolution' needs pymoo (NSGA-II): pip install 'dassgnn[search]' "
    "(or pip install pymoo>=0.6.2)"
)
"""The message of the `ImportError` raised where pymoo is not installed."""


def _import_pymoo() -> dict[str, Any]:
    try:
        from pymoo.algorithms.moo.nsga2 import NSGA2  # type: ignore[import-untyped]
        from pymoo.core.problem import Problem  # type: ignore[import-untyped]
        from pymoo.core.repair import Repair  # type: ignore[import-untyped]
        from pymoo.operators.crossover.sbx import SBX  # type: ignore[import-untyped]
        from pymoo.operators.mutation.pm import PM  # type: ignore[import-untyped]
        from pymoo.optimize import minimize  # type: ignore[import-untyped]
    except ImportError as err:
        raise ImportError(f"{PYMOO_MISSING} ({err})") from None
    return {
        "NSGA2": NSGA2,
        "Problem": Problem,
        "Repair": Repair,
        "SBX": SBX,
        "PM": PM,
        "minimize": minimize,
    }


class ArchCodec:
    """Integer vectors to and from the architectures of a ResNet-style space (one with
    ``depths`` and ``width_steps``).

    Args:
        space (SearchSpace): The space.

    Raises:
        ValueError: If the space has no ``depths`` and ``width_steps``.
    """

    def __init__(self, space: SearchSpace) -> None:
        depths = getattr(space, "depths", None)
        steps = getattr(space, "width_steps", None)
        if depths is None or steps is None:
            raise ValueError(
                f"strategy='evolution' needs a ResNet-style space (with depths and "
                f"width_steps); {space!r} has none: use strategy='pool'"
            )
        self.space = space
        self.depths: tuple[int, ...] = tuple(depths)
        self.steps: tuple[int, ...] = tuple(steps)
        self.n_var = sum(1 + d for d in self.depths)
        lower, upper = [], []
        for d in self.depths:
            lower += [1] + [0] * d
            upper += [d] + [len(self.steps) - 1] * d
        self.lower, self.upper = np.array(lower), np.array(upper)

    def decode(self, x: np.ndarray) -> Arch:
        """The canonical architecture of a (rounded, clipped) vector."""
        v = np.clip(np.rint(x), self.lower, self.upper).astype(int)
        depths, widths, i = [], [], 0
        for d_max in self.depths:
            d = int(v[i])
            depths.append(d)
            widths.append(tuple(self.steps[int(j)] for j in v[i + 1 : i + 1 + d]))
            i += 1 + d_max
        return self.space.canonical(Arch(tuple(depths), tuple(widths)))

    def encode(self, arch: Arch) -> np.ndarray:
        """The vector of an architecture (unused slots 0)."""
        out: list[int] = []
        for d_max, d, ws in zip(self.depths, arch.depths, arch.widths, strict=True):
            out += [d] + [self.steps.index(w) for w in ws] + [0] * (d_max - d)
        return np.array(out, dtype=float)


def run_nsga2(
    codec: ArchCodec,
    evaluate: Callable[[list[Arch]], tuple[np.ndarray, np.ndarray]],
    initial: list[Arch],
    *,
    num_constraints: int,
    generations: int,
    seed: int,
) -> int:
    """Runs NSGA-II.

    Args:
        codec (ArchCodec): The encoding.
        evaluate (Callable): ``archs -> (F, G)``: objectives $(n, 2)$ to minimise and
            constraints $(n, m)$, feasible where $\\le 0$.
        initial (list[Arch]): The initial population (its size is the population size).
        num_constraints (int): $m$ (0 for none).
        generations (int): Generations.
        seed (int): Seeds pymoo's generator (pymoo keeps no global random state).

    Returns:
        int: Evaluations done by pymoo.
    """
    pm = _import_pymoo()
    repair_base: Any = pm["Repair"]
    problem_base: Any = pm["Problem"]

    class CanonicalRepair(repair_base):
        def _do(self, problem: Any, X: np.ndarray, **kwargs: Any) -> np.ndarray:
            return np.stack([codec.encode(codec.decode(x)) for x in X]) if len(X) else X

    class StudentProblem(problem_base):
        def __init__(self) -> None:
            super().__init__(
                n_var=codec.n_var,
                n_obj=2,
                n_ieq_constr=num_constraints,
                xl=codec.lower,
                xu=codec.upper,
                vtype=int,
            )

        def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            objectives, constraints = evaluate([codec.decode(x) for x in X])
            out["F"] = objectives
            if num_constraints:
                out["G"] = constraints

    repair = CanonicalRepair()
    algorithm = pm["NSGA2"](
        pop_size=len(initial),
        sampling=np.stack([codec.encode(a) for a in initial]),
        crossover=pm["SBX"](prob=0.9, eta=3.0, vtype=float, repair=repair),
        mutation=pm["PM"](prob=1.0, eta=3.0, vtype=float, repair=repair),
        repair=repair,
        eliminate_duplicates=True,
    )
    result = pm["minimize"](
        StudentProblem(), algorithm, ("n_gen", generations), seed=seed, verbose=False
    )
    return int(result.algorithm.evaluator.n_eval)
