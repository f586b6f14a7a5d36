"""The benchmark's settings, and the named configurations of ``benchmarks/run.py``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from dassgnn.utils.validation import check_float, check_int, check_ints, check_seed

ALL_METHODS = (
    "dass",
    "dass_pooled",
    "metad2a",
    "ridge",
    "params",
    "flops",
    "diswot",
    "synflow",
    "snip",
    "grad_norm",
    "naswot",
    "random",
)
"""Every ranking method the benchmark compares, the DaSS predictor first."""


@dataclass(frozen=True)
class BenchConfig:
    """What a benchmark run does.

    Args:
        name (str): A label for the results.
        methods (tuple[str, ...]): Registered ranking methods to compare.
        tasks (tuple[str, ...]): Meta-test task keys or dataset names; empty
            takes every meta-test task whose data is here.
        budget (float): The parameter budget of searched students, as a
            fraction of the teacher's parameters.
        pool_size (int): Students sampled for the pool search (before the budget filter).
        pool_methods (tuple[str, ...]): Methods that search the pool (empty: none).
        pool_tasks (tuple[str, ...]): Datasets whose tasks get the pool search
            and KD training of the picks (empty: every task).
        kd_seeds (tuple[int, ...]): Seeds of the KD runs of the pool picks.
        bootstrap (int): Bootstrap resamples of the intervals.
        seed (int): Seed of the pool sampling, the bootstrap and the support draws.
        device (str): Where the picks train and the methods score.
        shots (tuple[int, ...]): The numbers $k$ of measured students of the few-shot
            study (empty: no few-shot study).
        draws (int): Support sets drawn a task and $k > 0$ (the same for every method).
    """

    name: str = "default"
    methods: tuple[str, ...] = ALL_METHODS
    tasks: tuple[str, ...] = ()
    budget: float = 0.5
    pool_size: int = 500
    pool_methods: tuple[str, ...] = ("dass", "params", "flops")
    pool_tasks: tuple[str, ...] = ("skimage_textures",)
    kd_seeds: tuple[int, ...] = (0, 1, 2)
    bootstrap: int = 1000
    seed: int = 0
    device: str = "cpu"
    shots: tuple[int, ...] = (0, 5, 10, 20)
    draws: int = 20

    def __post_init__(self) -> None:
        for name in ("methods", "tasks", "pool_methods", "pool_tasks", "kd_seeds", "shots"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"{name} must be a list, got the string {value!r}")
            object.__setattr__(self, name, tuple(value))
        check_float(self.budget, "budget", minimum=0, maximum=1, min_open=True)
        check_int(self.pool_size, "pool_size", minimum=1)
        check_int(self.bootstrap, "bootstrap", minimum=1)
        check_int(self.draws, "draws", minimum=1)
        check_ints(self.shots, "shots", minimum=0)
        check_seed(self.seed)
        for s in self.kd_seeds:
            check_seed(s, "kd_seeds")
        unknown = [m for m in self.pool_methods if m not in self.methods]
        if unknown:
            raise ValueError(
                f"pool_methods {unknown} are not among the methods {list(self.methods)}"
            )

    def replace(self, **changes: Any) -> BenchConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


CONFIGS: dict[str, BenchConfig] = {
    "default": BenchConfig(),
    "extended": BenchConfig(name="extended", pool_tasks=("omniglot_small2", "skimage_textures")),
    "full": BenchConfig(
        name="full",
        pool_size=2000,
        pool_methods=ALL_METHODS,
        pool_tasks=(),
        kd_seeds=(0, 1, 2),
    ),
}
"""The named configurations: ``default`` (CPU-sized, at most 15 minutes on 2
cores: every method on every task's measured students, the pool search on the
skimage textures, which ship with the dependencies), ``extended`` (the pool
search also on the Omniglot small2 tasks: 25 minutes on 2 cores; the run
the docs show) and ``full`` (the pool search with every method on every task;
for a GPU)."""
