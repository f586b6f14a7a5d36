"""Searched students: each method's top-1 under a parameter budget, among the
measured students and in a large sampled pool, KD-trained where unmeasured."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dassgnn.bench.tasks import BenchTask
from dassgnn.kd import Recipe, TeacherCache, distill
from dassgnn.ranking import RankingMethod
from dassgnn.space import Arch


def budget_of(bench: BenchTask, fraction: float) -> float:
    """The parameter budget: ``fraction`` of the teacher's parameters."""
    return fraction * float(bench.params([bench.teacher.space.teacher])[0])


def _top(scores: np.ndarray) -> int | None:
    finite = np.where(np.isfinite(scores), scores, -np.inf)
    if not np.isfinite(finite).any():
        return None
    return int(np.argmax(finite))


def measured_picks(
    bench: BenchTask, scored: dict[str, dict[str, Any]], budget: float
) -> list[dict[str, Any]]:
    """Each method's best-scored measured student within ``budget`` parameters,
    with its measured accuracy (mean and std over the recorded seeds), and the
    oracle: the best measured student within the budget."""
    params = bench.params()
    inside = np.flatnonzero(params <= budget)
    rows = []
    labels = bench.labels

    def row(method: str, i: int | None) -> dict[str, Any]:
        if i is None:
            return {"task": bench.key, "method": method, "arch": None}
        accs = bench.runs[i][np.isfinite(bench.runs[i])]
        return {
            "task": bench.key,
            "method": method,
            "arch": bench.archs[i].id,
            "params": float(params[i]),
            "mean": float(100 * accs.mean()),
            "std": float(100 * accs.std(ddof=1)) if accs.size > 1 else float("nan"),
            "seeds": int(accs.size),
        }

    if inside.size == 0:
        return []
    for name, entry in scored.items():
        pick = _top(np.asarray(entry["scores"], dtype=float)[inside])
        rows.append(row(name, None if pick is None else int(inside[pick])))
    rows.append(row("oracle", int(inside[int(np.argmax(labels[inside]))])))
    return rows


def pool_picks(
    bench: BenchTask,
    methods: dict[str, RankingMethod],
    budget: float,
    pool_size: int,
    seed: int = 0,
) -> tuple[list[Arch], dict[str, dict[str, Any]]]:
    """Each method's top-1 within ``budget`` in a pool of ``pool_size`` sampled
    students (the same pool for every method).

    Returns:
        tuple: The pool (within budget), and ``{method: {"arch", "score", "seconds", "error"}}``.
    """
    space = bench.teacher.space
    sampled = space.sample(pool_size, seed=seed)
    params = bench.params(sampled)
    pool = [a for a, p in zip(sampled, params, strict=True) if p <= budget]
    picks: dict[str, dict[str, Any]] = {}
    for name, method in methods.items():
        start = time.perf_counter()
        try:
            scores = method.score(bench.data, bench.teacher, pool)
            i = _top(scores)
            picks[name] = {
                "arch": None if i is None else pool[i],
                "score": None if i is None else float(scores[i]),
                "seconds": time.perf_counter() - start,
                "error": None,
            }
        except Exception as exc:  # reported, the benchmark goes on
            picks[name] = {
                "arch": None,
                "score": None,
                "seconds": time.perf_counter() - start,
                "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
            }
    return pool, picks


def train_picks(
    bench: BenchTask,
    archs: list[Arch],
    seeds: tuple[int, ...],
    *,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, list[float]]:
    """KD accuracies (%) of ``archs`` with each of ``seeds``: the recorded runs
    where the records have them, else trained here with the task's own recipe
    from the teacher's remapped weights.

    Returns:
        dict: ``{arch_id: [accuracy a seed]}``.
    """
    recipe = Recipe.from_dict(bench.recipe)
    recorded = {a.id: bench.runs[i] for i, a in enumerate(bench.archs)}
    cache = {s: TeacherCache(bench.teacher.model) for s in seeds}
    todo = [(a, s) for a in dict.fromkeys(archs) for s in seeds]
    out: dict[str, list[float]] = {}
    bar = tqdm(todo, desc=f"KD picks {bench.name}", disable=not progress, leave=False)
    for arch, seed in bar:
        if arch.id in recorded and seed in bench.seeds:
            value = recorded[arch.id][bench.seeds.index(seed)]
            if np.isfinite(value):
                out.setdefault(arch.id, []).append(100 * float(value))
                continue
        _, result = distill(
            bench.teacher.space, arch, bench.data, cache[seed], recipe, seed=seed, device=device
        )
        out.setdefault(arch.id, []).append(100 * result.test_acc)
    return out
