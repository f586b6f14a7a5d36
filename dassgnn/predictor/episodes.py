"""Episodes of meta-training and evaluation, built from a record store: one a
task, with its context, its measured students (seed-mean KD accuracy, and the accuracy
under each seed for support draws) and the teacher's row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from dassgnn.encoders import functional_maps
from dassgnn.predictor.config import PredictorConfig
from dassgnn.predictor.inputs import prepare_context, prepare_students, teacher_row
from dassgnn.predictor.metasgd import Episode
from dassgnn.records.analysis import task_report
from dassgnn.space import Arch, SearchSpace, space_from_dict

GRAM_KIND = "functional-gram"
"""The ``kind`` of the functional maps cached in a record store's embeddings table."""


def task_runs(
    store: Any, task_key: str, mode: str = "kd"
) -> tuple[str, list[str], np.ndarray, list[int]]:
    """A task's teacher and its students' accuracy under every seed: the one rule that
    picks "the task's teacher" (for KD, the one with the most finished runs; for scratch
    runs, the task's first teacher, which names its space).

    Args:
        store (RecordStore): The records.
        task_key (str): The task.
        mode (str, optional): ``"kd"`` (accuracy after KD from the teacher) or
            ``"scratch"`` (trained from random weights, for the MetaD2A-style
            baseline). (default: `"kd"`)

    Returns:
        tuple: The teacher id, the students' arch ids (sorted), their accuracies
        $(n, s)$ under each of the $s$ seeds (NaN where a seed is missing) and the seeds.

    Raises:
        ValueError: If the task has no finished run of ``mode``, or no teacher.
    """
    by_teacher: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for run in store.runs(task_key, mode=mode):
        if run.test_acc is not None:
            by_teacher[run.teacher_id][run.arch_id][run.seed] = run.test_acc
    if not by_teacher:
        raise ValueError(f"task {task_key!r} has no {mode} run in the records")
    teacher_id = max(sorted(by_teacher), key=lambda t: sum(len(v) for v in by_teacher[t].values()))
    accs = by_teacher[teacher_id]
    if mode != "kd":
        teachers = store.teachers(task_key)
        if not teachers:
            raise ValueError(f"task {task_key!r} has no teacher in the records")
        teacher_id = teachers[0].teacher_id
    ids = sorted(accs)
    seeds = sorted({s for v in accs.values() for s in v})
    table = np.full((len(ids), len(seeds)), np.nan)
    for i, a in enumerate(ids):
        for j, seed in enumerate(seeds):
            table[i, j] = accs[a].get(seed, np.nan)
    return teacher_id, ids, table, seeds


def task_labels(
    store: Any, task_key: str, mode: str = "kd"
) -> tuple[str, dict[str, float], dict[str, int]]:
    """A task's teacher and the seed-mean accuracy of each of its students (see
    [`task_runs`][dassgnn.predictor.episodes.task_runs]).

    Returns:
        tuple: The teacher id, ``{arch_id: mean accuracy}`` and ``{arch_id: number of seeds}``.

    Raises:
        ValueError: If the task has no run of ``mode``, or no teacher.
    """
    teacher_id, ids, table, _ = task_runs(store, task_key, mode)
    return (
        teacher_id,
        {a: float(np.nanmean(row)) for a, row in zip(ids, table, strict=True)},
        {a: int((~np.isnan(row)).sum()) for a, row in zip(ids, table, strict=True)},
    )


def cached_grams(
    store: Any,
    space: SearchSpace,
    teacher: torch.nn.Module,
    teacher_id: str,
    archs: Sequence[Arch],
    config: PredictorConfig,
) -> torch.Tensor:
    """The functional maps of ``[space.teacher, *archs]``, read from the store's
    embeddings table where cached, computed (and cached, if the store is
    writable) otherwise."""
    wanted = [space.teacher, *archs]
    sources = [
        {"teacher_id": teacher_id, "arch_id": a.id, "noise": config.noise.to_dict()} for a in wanted
    ]
    found = [store.get_embedding(GRAM_KIND, s) for s in sources]
    missing = [i for i, g in enumerate(found) if g is None]
    if missing:
        computed = functional_maps(space, teacher, [wanted[i] for i in missing], config.noise)
        for i, g in zip(missing, computed, strict=True):
            found[i] = g
            if not store.readonly:
                store.put_embedding(GRAM_KIND, sources[i], g.half())
    return torch.stack([g.float() for g in found if g is not None])


def task_episode(store: Any, task_key: str, config: PredictorConfig, mode: str = "kd") -> Episode:
    """The episode of one task of ``store``: its context (dataset sample, teacher), its
    measured students labelled with their seed-mean accuracy (of ``mode`` runs) and their
    per-seed accuracies, the teacher's row and the label's reliability.

    Raises:
        ValueError: If the task has no run of ``mode``, or its teacher no weights.
    """
    teacher_id, ids, table, seeds = task_runs(store, task_key, mode)
    record = store.get_teacher(teacher_id)
    space = space_from_dict(record.space)
    teacher = record.build_model()
    data = store.get_task(task_key).load()
    archs = [space.parse(a) for a in ids]
    grams = cached_grams(store, space, teacher, teacher_id, archs, config)
    context = prepare_context(
        config, space, teacher, data, record.test_acc, key=task_key, teacher_gram=grams[0]
    )
    students = prepare_students(
        config,
        space,
        teacher,
        data,
        archs,
        targets=np.nanmean(table, axis=1).tolist(),
        grams=grams[1:],
    )
    quality = task_report(store, task_key) if mode == "kd" and len(seeds) > 1 else {}
    return Episode(
        context,
        students,
        teacher_row(space, context, config),
        torch.as_tensor(table, dtype=torch.float32),
        reliability=float(quality.get("mean_rho", float("nan"))),
    )


def load_episodes(
    store: Any,
    task_keys: Sequence[str],
    config: PredictorConfig,
    *,
    progress: bool = False,
    mode: str = "kd",
) -> list[Episode]:
    """[`task_episode`][dassgnn.predictor.episodes.task_episode] of each task, in order."""
    bar = tqdm(task_keys, desc="tasks", disable=not progress, leave=False)
    return [task_episode(store, key, config, mode) for key in bar]


def task_keys(store: Any, role: str, mode: str = "kd") -> list[str]:
    """The keys of the tasks of ``role`` that have runs of ``mode``, in the store's order."""
    return [t.key for t in store.tasks(role) if store.runs(t.key, mode=mode)]
