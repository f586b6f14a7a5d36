"""[`search()`][dassgnn.search.search]: the best students of a teacher on a dataset, in a budget."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import torch
from torch import nn

from dassgnn.data import DatasetSplits, Task
from dassgnn.ranking import RankingMethod
from dassgnn.search.result import Candidate, SearchResult, pareto_front, rank_order
from dassgnn.search.scoring import Scorer, measure_latency, scoring_teacher
from dassgnn.search.setup import Setup, check_budget, resolve, space_size
from dassgnn.search.shots import MeasuredStudent, choose_shots, label_recipe, measure_students
from dassgnn.space import Arch, SearchSpace
from dassgnn.utils.device import check_device
from dassgnn.utils.validation import check_bool, check_choice, check_float, check_int, check_seed

__all__ = ["STRATEGIES", "search"]

STRATEGIES = ("pool", "evolution")
"""The search strategies: score a sampled pool, or NSGA-II with the method as surrogate."""

DataLike = DatasetSplits | Task | str | os.PathLike[str]


def search(
    teacher: nn.Module | str | os.PathLike[str],
    data: DataLike,
    *,
    max_params: int | None = None,
    max_flops: int | None = None,
    max_latency_ms: float | None = None,
    method: str | RankingMethod = "dass",
    strategy: str = "pool",
    pool_size: int = 10_000,
    generations: int = 30,
    population: int = 100,
    top_k: int = 10,
    pareto: bool = False,
    cost: str | None = None,
    image_size: int | None = None,
    shots: int = 0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    chunk: int = 512,
    progress: bool = False,
) -> SearchResult:
    r"""Ranks students of ``teacher`` for ``data`` within a budget, training none of them, or
    only ``shots`` of them.

    The space is derived from the teacher
    ([`space_for_teacher()`][dassgnn.search.space_for_teacher]). With ``strategy="pool"``,
    ``pool_size`` distinct students are sampled from it (seeded), those within the parameter
    and FLOP budgets are scored by ``method`` in chunks of ``chunk`` and ranked. With
    ``strategy="evolution"``, pymoo's NSGA-II evolves ``population`` students for
    ``generations`` generations with the method's score (maximised) and the cost (minimised)
    as objectives and the budgets as constraints (see `dassgnn.search.evolution`), and every
    student it scored is ranked. A latency budget is checked afterwards by timing the
    best-ranked students on ``device`` (see [`measure_latency()`][dassgnn.search.measure_latency])
    until ``top_k`` fit, at most $\max(10 k, 100)$ of them.

    With ``shots`` $= k > 0$, $k$ of the candidates within the budget, spread over the cost
    range (see `dassgnn.search.shots`), are KD-trained on ``device`` with the recipe of the
    predictor's training labels; the method adapts on their measured accuracies (a few-shot
    method such as ``"dass"`` or ``"ridge"``; the others ignore them) and ranks the other
    candidates. The result lists the measured students with their accuracies and training
    times (``result.measured``); they are not among ``result.candidates``.

    Args:
        teacher (nn.Module or path): The trained teacher: the library's
            [`ResNet`][dassgnn.space.ResNet] or a torchvision-style BasicBlock ResNet, or the
            path of a checkpoint ([`load_teacher()`][dassgnn.search.load_teacher]).
        data (DatasetSplits, Task, str or path): The teacher's data: loaded splits, a
            [`Task`][dassgnn.data.Task], a registered dataset name or the path of an ``.npz``
            file or image folder (all its classes, at ``image_size``, with the teacher's
            image channels). Its classes must match the teacher's head.
        max_params (int, optional): Most trainable parameters. (default: `None`)
        max_flops (int, optional): Most multiply-accumulates of one forward pass at the
            data's image size. (default: `None`)
        max_latency_ms (float, optional): Most milliseconds of one forward pass of one image
            on ``device``. (default: `None`)
        method (str or RankingMethod, optional): ``"dass"`` (the predictor of
            [`default_checkpoint_path()`][dassgnn.predictor.default_checkpoint_path]), another
            registered method's name, or a fitted method. (default: `"dass"`)
        strategy (str, optional): ``"pool"`` or ``"evolution"``. (default: `"pool"`)
        pool_size (int, optional): Students sampled by ``"pool"``. (default: `10000`)
        generations (int, optional): Generations of ``"evolution"``. (default: `30`)
        population (int, optional): Population of ``"evolution"``. (default: `100`)
        top_k (int, optional): Candidates returned. (default: `10`)
        pareto (bool, optional): Also return the Pareto front of score against ``cost``.
            (default: `False`)
        cost (str, optional): ``"params"`` or ``"flops"``, the cost of the front and of the
            evolution; by default ``"params"`` when only ``max_params`` is given, else
            ``"flops"``. (default: `None`)
        image_size (int, optional): Image size of a dataset given by name or path; by
            default the size (the data's own, 16, 24 or 32) at which the teacher's test
            accuracy is highest, noted in ``result.extra["image_size"]``. (default: `None`)
        shots (int, optional): Candidates to KD-train and adapt on before ranking the rest;
            0 trains none. (default: `0`)
        seed (int, optional): Seeds the sampling, the evolution and the measured students'
            training. (default: `0`)
        device (str or torch.device, optional): Where the teacher runs (functional maps,
            its accuracy), where measured students train and where latency is measured.
            (default: `"cpu"`)
        chunk (int, optional): Candidates per call of the method. (default: `512`)
        progress (bool, optional): Progress bars. (default: `False`)

    Returns:
        SearchResult: The ``top_k`` candidates best first, the front if asked for, the
        measured students, and [`build()`][dassgnn.search.SearchResult.build] for their
        students.

    Raises:
        ValueError: For a bad setting (e.g. a device this machine does not have), a budget no
            student of the space meets (the message
            gives the smallest cost possible), more shots than candidates within the budget,
            data whose classes or channels differ from the teacher's, or a data path in
            neither layout.
        UnsupportedTeacherError: If the teacher cannot be mapped to a space.
        TeacherCheckpointError: If a teacher checkpoint does not load.
        ImportError: For ``strategy="evolution"`` without pymoo (``pip install
            'dassgnn[search]'``).
    """
    if max_params is not None:
        max_params = check_int(max_params, "max_params", minimum=1)
    if max_flops is not None:
        max_flops = check_int(max_flops, "max_flops", minimum=1)
    if max_latency_ms is not None:
        max_latency_ms = check_float(max_latency_ms, "max_latency_ms", minimum=0, min_open=True)
    strategy = check_choice(strategy, "strategy", STRATEGIES)
    pool_size = check_int(pool_size, "pool_size", minimum=1)
    generations = check_int(generations, "generations", minimum=1)
    population = check_int(population, "population", minimum=4)
    top_k = check_int(top_k, "top_k", minimum=1)
    shots = check_int(shots, "shots", minimum=0)
    pareto = check_bool(pareto, "pareto")
    if cost is None:
        cost = "params" if max_params is not None and max_flops is None else "flops"
    cost = check_choice(cost, "cost", ("params", "flops"))
    if image_size is not None:
        image_size = check_int(image_size, "image_size", minimum=1)
    seed = check_seed(seed)
    device = torch.device(check_device(str(device)))

    setup = resolve(teacher, data, image_size, method, device, max_params, max_flops)
    pool = (
        setup.space.sample(min(pool_size, space_size(setup.space)), seed=seed)
        if strategy == "pool"
        else []
    )
    smallest = check_budget(setup, pool, seed)
    accuracy = None
    if setup.ranker.needs_fit:
        from dassgnn.predictor import teacher_accuracy

        accuracy = teacher_accuracy(setup.model, setup.data)
    teacher_ = scoring_teacher(setup.space, setup.model, accuracy)
    scorer = Scorer(setup.ranker, setup.data, teacher_, chunk, progress)
    extra: dict[str, Any] = {}
    if setup.image_size_note:
        extra["image_size"] = setup.image_size_note
    if strategy == "pool":
        archs = [a for a in pool if setup.fits(a)]
        evaluated = len(pool)
        if not archs:
            archs = [smallest]
            extra["note"] = "no sampled student fits the budget; the smallest student does"
    else:
        evaluated = _evolve(setup, scorer, cost, population, generations, seed)
        archs = list(scorer.cache)
    scores = scorer(archs)
    measured: list[MeasuredStudent] = []
    if shots and not setup.ranker.uses_measured:
        raise ValueError(
            f"shots={shots}, but the method {setup.ranker.name or type(setup.ranker).__name__!r} "
            "does not use measured students: training them would change nothing (use a "
            "few-shot method such as 'dass' or 'ridge', or shots=0)"
        )
    if shots:
        archs, scores, measured = _few_shot(
            setup, teacher_, archs, scores, shots, seed, device, chunk, progress
        )
    cands = [setup.candidate(a, s) for a, s in zip(archs, scores.tolist(), strict=True)]
    ranked = [
        cands[i] for i in rank_order(scores, [x.params for x in cands], [a.id for a in archs])
    ]
    front = pareto_front(cands, cost) if pareto else None
    if max_latency_ms is not None:
        timer = _Timer(setup.space, setup.k, setup.c, setup.size, device)
        ranked = _within_latency(ranked, top_k, max_latency_ms, timer, smallest)
        if front is not None:
            front = [dataclasses.replace(x, latency_ms=timer(x.arch)) for x in front]
            front = [
                x for x in front if x.latency_ms is not None and x.latency_ms <= max_latency_ms
            ]
    return _result(
        setup,
        ranked[:top_k],
        strategy,
        cost,
        max_latency_ms,
        evaluated,
        len(archs) + len(measured),
        seed,
        front,
        accuracy,
        measured,
        extra,
    )


def _few_shot(
    setup: Setup,
    teacher: Any,
    archs: list[Arch],
    scores: np.ndarray,
    shots: int,
    seed: int,
    device: torch.device,
    chunk: int,
    progress: bool,
) -> tuple[list[Arch], np.ndarray, list[MeasuredStudent]]:
    """Chooses, KD-trains and adapts on ``shots`` candidates; the other candidates and their
    scores after adaptation."""
    if shots >= len(archs):
        raise ValueError(
            f"shots={shots} but only {len(archs)} candidate(s) fit the budget: measure fewer "
            "students, or widen the budget or the pool"
        )
    space, k, c = setup.space, setup.k, setup.c
    params = [space.params(a, k, c) for a in archs]
    chosen = choose_shots(archs, scores, params, shots)
    position = {a: i for i, a in enumerate(archs)}
    measured = measure_students(
        space,
        chosen,
        setup.data,
        setup.model,
        label_recipe(setup.ranker),
        predicted=[scores[position[a]] for a in chosen],
        seed=seed,
        device=device,
        progress=progress,
    )
    rest = [a for a in archs if a not in set(chosen)]
    adapted = Scorer(
        setup.ranker,
        setup.data,
        teacher,
        chunk,
        progress,
        measured={m.arch: m.accuracy for m in measured},
    )
    return rest, adapted(rest), measured


def _result(
    setup: Setup,
    candidates: list[Candidate],
    strategy: str,
    cost: str,
    max_latency_ms: float | None,
    evaluated: int,
    feasible: int,
    seed: int,
    front: list[Candidate] | None,
    accuracy: float | None,
    measured: list[MeasuredStudent],
    extra: dict[str, Any],
) -> SearchResult:
    from dassgnn.predictor import DaSSRanker

    name = getattr(setup.ranker, "name", "") or type(setup.ranker).__name__
    return SearchResult(
        candidates=candidates,
        space=setup.space,
        teacher=setup.model,
        num_classes=setup.k,
        in_channels=setup.c,
        image_size=setup.size,
        method=name,
        strategy=strategy,
        cost=cost,
        budget={
            "max_params": setup.max_params,
            "max_flops": setup.max_flops,
            "max_latency_ms": max_latency_ms,
        },
        evaluated=evaluated,
        feasible=feasible,
        seed=seed,
        pareto=front,
        teacher_accuracy=accuracy,
        score_name="predicted accuracy"
        if isinstance(setup.ranker, DaSSRanker)
        else f"{name} score",
        measured=measured,
        extra=extra,
    )


def _evolve(
    setup: Setup,
    scorer: Scorer,
    cost: str,
    population: int,
    generations: int,
    seed: int,
) -> int:
    from dassgnn.search.evolution import ArchCodec, run_nsga2

    space, k, c, size = setup.space, setup.k, setup.c, setup.size
    codec = ArchCodec(space)
    seen: set[Arch] = set()
    limits = [
        (m, f)
        for m, f in ((setup.max_params, "params"), (setup.max_flops, "flops"))
        if m is not None
    ]

    def evaluate(archs: list[Arch]) -> tuple[np.ndarray, np.ndarray]:
        seen.update(archs)
        params = np.array([space.params(a, k, c) for a in archs], dtype=float)
        flops = np.array([space.flops(a, k, c, size) for a in archs], dtype=float)
        ok = [setup.fits(a) for a in archs]
        scores = np.zeros(len(archs))
        feasible = [a for a, f in zip(archs, ok, strict=True) if f]
        if feasible:
            scores[np.flatnonzero(ok)] = scorer(feasible)
        scores = np.where(np.isnan(scores), -1e9, scores)
        objective = np.stack([-scores, params if cost == "params" else flops], axis=1)
        g = [(params if name == "params" else flops) / limit - 1 for limit, name in limits]
        return objective, np.stack(g, axis=1) if g else np.zeros((len(archs), 0))

    n = min(population, space_size(space))
    run_nsga2(
        codec,
        evaluate,
        space.sample(n, seed=seed),
        num_constraints=len(limits),
        generations=generations,
        seed=seed,
    )
    return len(seen)


class _Timer:
    """Latency of students at the data's image size, one image, cached per architecture."""

    def __init__(self, space: SearchSpace, k: int, c: int, size: Any, device: torch.device):
        self.space, self.k, self.c, self.device = space, k, c, device
        self.shape = (1, c, *((size, size) if isinstance(size, int) else size))
        self.cache: dict[Arch, float] = {}

    def __call__(self, arch: Arch) -> float:
        if arch not in self.cache:
            model = self.space.build(arch, self.k, self.c, seed=0)
            self.cache[arch] = measure_latency(model, self.shape, device=self.device)
        return self.cache[arch]


def _within_latency(
    ranked: list[Candidate], top_k: int, limit: float, timer: _Timer, smallest: Arch
) -> list[Candidate]:
    out: list[Candidate] = []
    tried = 0
    for cand in ranked:
        if len(out) >= top_k or tried >= max(10 * top_k, 100):
            break
        tried += 1
        ms = timer(cand.arch)
        if ms <= limit:
            out.append(dataclasses.replace(cand, latency_ms=ms))
    if not out:
        fastest = min(timer.cache, key=timer.cache.__getitem__)
        floor = timer(smallest)
        raise ValueError(
            f"no candidate meets max_latency_ms={limit:g}: the {tried} best-ranked took "
            f"{timer.cache[fastest]:.3g} ms at best ({fastest.id}), and the smallest student "
            f"of the space, {smallest.id}, takes {floor:.3g} ms on this device"
        )
    return out
