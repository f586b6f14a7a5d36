"""Multi-objective evolutionary search with the predictor as surrogate, on pymoo's NSGA-II
([Deb et al., 2002](https://doi.org/10.1109/4235.996017);
[pymoo](https://pymoo.org/algorithms/moo/nsga2.html)).

A student is a vector of integers, its space's genotype (for the ResNet spaces: per stage its
depth, then, per block slot of the teacher's stage, the index of its width multiplier, slots
beyond the depth unused and set to 0; see
[`ResNetSpace.genotype()`][dassgnn.space.ResNetSpace.genotype]). A repair operator rounds,
clips and canonicalises every vector, so that equal vectors are equal networks and pymoo's
duplicate elimination sees through encodings. The two objectives are the ranking method's
score (maximised) and the cost (minimised); the parameter and FLOP budgets are inequality
constraints, so NSGA-II's constrained domination drives the population into the budget. Only
candidates within the budget are scored.
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
    """Integer vectors to and from the architectures of a space, through the space's own
    genotype ([`genotype()`][dassgnn.space.SearchSpace.genotype],
    [`from_genotype()`][dassgnn.space.SearchSpace.from_genotype] and
    [`genotype_bounds()`][dassgnn.space.SearchSpace.genotype_bounds]).

    Args:
        space (SearchSpace): The space.

    Raises:
        ValueError: If the space has no genotype.
    """

    def __init__(self, space: SearchSpace) -> None:
        try:
            lower, upper = space.genotype_bounds()
        except NotImplementedError as error:
            raise ValueError(
                f"strategy='evolution' needs a space with a genotype ({error}): use strategy='pool'"
            ) from None
        self.space = space
        self.lower, self.upper = np.asarray(lower), np.asarray(upper)
        self.n_var = int(self.lower.size)

    def decode(self, x: np.ndarray) -> Arch:
        """The canonical architecture of a (rounded, clipped) vector."""
        return self.space.from_genotype(x)

    def encode(self, arch: Arch) -> np.ndarray:
        """The vector of an architecture, as floats (pymoo's variables)."""
        return np.asarray(self.space.genotype(arch), dtype=float)


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
