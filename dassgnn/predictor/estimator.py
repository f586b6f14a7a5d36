"""The DaSS predictor as a ranking method: fit on a record store, save, load, predict, score."""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

import dassgnn
from dassgnn.predictor.checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    CheckpointError,
    _full,
    _half,
    _read_checkpoint,
)
from dassgnn.predictor.config import DEFAULT_BRANCHES, PredictorConfig
from dassgnn.predictor.episodes import load_episodes, task_keys, task_runs
from dassgnn.predictor.inputs import (
    StudentInputs,
    TaskContext,
    prepare_context,
    prepare_students,
    support_set,
    teacher_row,
)
from dassgnn.predictor.metasgd import MetaSGD, adapt_on
from dassgnn.predictor.model import DaSSPredictor, soft_bound
from dassgnn.predictor.residual import residual_ridge
from dassgnn.predictor.training import TrainLog, meta_train
from dassgnn.ranking import NotFittedError, RankingMethod, Teacher, register_ranker
from dassgnn.space import Arch, GraphSchema, SearchSpace, space_from_dict
from dassgnn.utils.validation import check_int

CHUNK = 4096
"""Candidates scored at a time: peak memory stays flat however large the pool."""


def teacher_accuracy(model: torch.nn.Module, data: Any) -> float:
    """The teacher's accuracy on the task's test split, with the training loop's
    preprocessing (standardised with the training set's channel statistics)."""
    from dassgnn.kd import Recipe
    from dassgnn.kd.stream import BatchStream
    from dassgnn.kd.train import evaluate

    device = next(model.parameters()).device
    stream = BatchStream(data.train, data.test, Recipe(epochs=1), 0, device)
    acc, _ = evaluate(model, stream, data.num_classes)
    return acc


def choose_val_tasks(store: Any, keys: Sequence[str], count: int, mode: str = "kd") -> list[str]:
    """``count`` meta-validation tasks among ``keys``, spread round-robin over datasets:
    within a dataset, tasks whose students all have two or more KD seeds first, the most
    reliable labels first (the seed-mean reliability of
    [`task_report`][dassgnn.records.analysis.task_report]; checkpoint selection is only as
    good as the labels it selects on)."""
    from dassgnn.records.analysis import task_report

    def rank(key: str) -> tuple[float, float, str]:
        _, _, table, _ = task_runs(store, key, mode)
        complete = float((~np.isnan(table)).sum(axis=1).min())
        rel = task_report(store, key)["mean_rho"] if mode == "kd" and table.shape[1] > 1 else -1
        return (-min(complete, 2.0), -float(np.nan_to_num(rel, nan=-1.0)), key)

    by_dataset: dict[str, list[str]] = defaultdict(list)
    for k in sorted(keys, key=rank):
        by_dataset[store.get_task(k).dataset].append(k)
    picked: list[str] = []
    while len(picked) < min(count, len(keys)):
        for name in sorted(by_dataset):
            if by_dataset[name] and len(picked) < count:
                picked.append(by_dataset[name].pop(0))
    return picked


@register_ranker("dass")
class DaSSRanker(RankingMethod):
    """The DaSS predictor of accuracy after KD, meta-trained on a record store.

    ``fit(records)`` meta-trains on the store's ``meta-train`` tasks, holding
    ``val_tasks`` of them out to select the checkpoint (never a meta-test
    task); ``save``/``load`` keep the config, the graph schema and the library
    version; ``predict`` gives accuracies and ``score`` ranks (higher is better).
    Measured students (``score(..., measured={arch: accuracy})``) join the teacher in
    the support set that the predictor adapts on before it scores the candidates; their
    accuracies must come from the recipe of the training labels (``recipe_``, stored in
    the checkpoint).

    Args:
        config (PredictorConfig or dict, optional): The settings. (default: `PredictorConfig()`)
        val_tasks (int or list[str], optional): How many meta-training tasks to
            hold out for validation (chosen by
            [`choose_val_tasks`][dassgnn.predictor.estimator.choose_val_tasks]),
            or their keys. (default: `6`)
        train_tasks (list[str], optional): Restrict meta-training to these task
            keys (e.g. for a learning curve). (default: `None`, all others)
        progress (bool, optional): Progress bars. (default: `False`)
    """

    needs_fit = True
    label_mode = "kd"
    """Which runs label the students: ``"kd"``, or ``"scratch"`` for the MetaD2A-style
    baseline."""

    def __init__(
        self,
        config: PredictorConfig | dict[str, Any] | None = None,
        val_tasks: int | Sequence[str] = 6,
        train_tasks: Sequence[str] | None = None,
        progress: bool = False,
    ) -> None:
        self.config = config
        self.val_tasks = val_tasks
        self.train_tasks = train_tasks
        self.progress = progress

    @property
    def uses_measured(self) -> bool:  # type: ignore[override]
        """Whether measured students join the support set: with Meta-SGD adaptation
        (``config.meta`` and ``config.adapt``); the pooled and MetaD2A-style baselines
        ignore them."""
        return bool(self.config_.meta and self.config_.adapt)

    default_config: ClassVar[dict[str, Any]] = {}
    """Settings of this method that differ from `PredictorConfig`'s defaults (e.g.
    ``meta=False`` for the pooled baseline); a ``config`` dict is merged on top of them."""

    @property
    def config_(self) -> PredictorConfig:
        """The validated settings: ``config`` if it is a
        [`PredictorConfig`][dassgnn.predictor.PredictorConfig], else the method's
        `default_config` updated with the ``config`` dict."""
        if isinstance(self.config, PredictorConfig):
            return self.config
        if self.config is not None and not isinstance(self.config, dict):
            raise TypeError(
                f"config must be a PredictorConfig or a dict of settings, got "
                f"{type(self.config).__name__}"
            )
        return PredictorConfig.from_dict({**self.default_config, **(self.config or {})})

    def _split_tasks(self, records: Any) -> tuple[list[str], list[str]]:
        mode = self.label_mode
        keys = task_keys(records, "meta-train", mode)
        if not keys:
            raise ValueError(f"the records hold no meta-train task with {mode} runs")
        if isinstance(self.val_tasks, int):
            count = check_int(self.val_tasks, "val_tasks", minimum=0)
            val = choose_val_tasks(records, keys, count, mode)
        else:
            val = list(self.val_tasks)
            unknown = sorted(set(val) - set(keys))
            if unknown:
                raise ValueError(f"val_tasks {unknown} are not meta-train tasks of the records")
        train = [k for k in keys if k not in val]
        if self.train_tasks is not None:
            train = [k for k in self.train_tasks if k in train]
        if not train:
            raise ValueError("no meta-training task is left after holding out val_tasks")
        return train, val

    def _fit(self, records: Any) -> None:
        config = self.config_
        mode = self.label_mode
        train, val = self._split_tasks(records)
        schemas = {
            space_from_dict(records.get_teacher(task_runs(records, k, mode)[0]).space).graph_schema
            for k in train + val
        }
        if len(schemas) != 1:
            raise ValueError("the meta-training tasks' spaces have different graph schemas")
        self.schema_ = schemas.pop()
        episodes = load_episodes(records, train + val, config, progress=self.progress, mode=mode)
        train_eps = [
            e
            for e in episodes[: len(train)]
            if math.isnan(e.reliability) or e.reliability >= config.min_reliability
        ]
        if not train_eps:
            raise ValueError(
                f"no meta-training task has a label reliability >= {config.min_reliability}"
            )
        self.members_ = []
        self.logs_ = []
        for i in range(config.ensemble):
            model = DaSSPredictor(config.replace(seed=config.seed + i), self.schema_)
            metasgd, log = meta_train(
                model, train_eps, episodes[len(train) :], progress=self.progress
            )
            self.members_.append((model, metasgd))
            self.logs_.append(log)
        self.train_tasks_ = [e.key for e in train_eps]
        self.val_tasks_ = val
        runs = records.runs(train_eps[0].key, mode=mode)
        self.recipe_ = dict(runs[0].recipe) if runs else {}

    @property
    def log_(self) -> TrainLog:
        """The training log of the first member (``logs_`` has every member's)."""
        return self.logs_[0]

    # ----------------------------------------------------------------- prediction

    def predict(
        self,
        task: Any,
        teacher: Teacher,
        archs: Sequence[Arch],
        measured: dict[Arch, float] | None = None,
    ) -> np.ndarray:
        """Predicted accuracies after KD of ``archs`` (see
        [`score`][dassgnn.ranking.RankingMethod.score] for the arguments)."""
        return self.score(task, teacher, archs, measured=measured)

    def predict_students(
        self,
        space: SearchSpace,
        teacher: Any,
        data: Any,
        context: TaskContext,
        archs: Sequence[Arch],
        support: StudentInputs,
    ) -> np.ndarray:
        """Predicted accuracies of ``archs`` given a task's context and support set: the
        mean over the ensemble's members, each adapted once on ``support`` (and, with
        ``residual_alpha(s)``, corrected by a ridge of its residuals on the measured students),
        the candidates scored in chunks of [`CHUNK`][dassgnn.predictor.CHUNK], kept inside
        $(0, 1)$ by [`soft_bound`][dassgnn.predictor.model.soft_bound] (order unchanged)."""
        self.check_is_fitted()
        config = self.config_
        adapt = config.meta and config.adapt
        preds = np.zeros(len(archs))
        with_ridge = residual_ridge(config) is not None and len(support) > 1
        shots = support.subset(range(1, len(support))) if with_ridge else None
        with torch.no_grad():
            members = []
            for model, metasgd in self.members_:
                task = model.embed_task(context)
                params = None
                if adapt and metasgd is not None:
                    params = adapt_on(model, metasgd, context, support, task=task)
                ridge = residual_ridge(config) if shots is not None else None
                if ridge is not None and shots is not None and shots.targets is not None:
                    emb = model.embed_students(context, shots)
                    fitted = model.fuse(task, emb, shots.simple, params)
                    ridge.fit(fitted, shots.targets, shots.simple)
                members.append((model, task, params, ridge))
            for start in range(0, len(archs), CHUNK):
                part = archs[start : start + CHUNK]
                students = prepare_students(config, space, teacher, data, part, one_batch=True)
                out = []
                for model, task, p, ridge in members:
                    emb = model.embed_students(context, students)
                    pred = model.fuse(task, emb, students.simple, p)
                    if ridge is not None:
                        pred = pred + ridge.correction(students.simple)
                    out.append(pred)
                preds[start : start + len(part)] = torch.stack(out).double().mean(0).numpy()
        return soft_bound(preds)

    def _score(
        self, task: Any, teacher: Teacher, archs: list[Arch], measured: dict[Arch, float]
    ) -> np.ndarray:
        schema = teacher.space.graph_schema
        if schema != self.schema_:
            raise CheckpointError(
                f"this predictor reads graphs of {self.schema_.num_node_features} node features "
                f"({len(self.schema_.ops)} ops); the teacher's space {teacher.space!r} gives "
                f"{schema.num_node_features} ({len(schema.ops)} ops)"
            )
        data = task.load() if hasattr(task, "load") else task
        acc = teacher.accuracy
        if acc is None:
            acc = teacher_accuracy(teacher.model, data)
        config, space = self.config_, teacher.space
        context = prepare_context(config, space, teacher.model, data, acc)
        shots = None
        if measured:
            known = list(measured)
            shots = prepare_students(
                config, space, teacher.model, data, known, targets=[measured[a] for a in known]
            )
        support = support_set(teacher_row(space, context, config), shots)
        return self.predict_students(space, teacher.model, data, context, archs, support)

    # ------------------------------------------------------------- persistence

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the fitted predictor to ``path`` (a ``torch.save`` file of tensors
        and plain data only, readable with ``weights_only=True``), with the registered
        name of its method and its label mode."""
        self.check_is_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "format": CHECKPOINT_FORMAT,
                "version": CHECKPOINT_VERSION,
                "library_version": dassgnn.__version__,
                "method": self.name,
                "label_mode": self.label_mode,
                "config": self.config_.to_dict(),
                "schema": self.schema_.to_dict(),
                "members": [
                    {
                        "state_dict": _half(model.state_dict()),
                        "metasgd": _half(metasgd.state_dict()) if metasgd is not None else None,
                    }
                    for model, metasgd in self.members_
                ],
                "logs": [log.to_dict() for log in self.logs_],
                "train_tasks": list(self.train_tasks_),
                "val_tasks": list(self.val_tasks_),
                "recipe": dict(getattr(self, "recipe_", {})),
            },
            path,
        )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], progress: bool = False) -> DaSSRanker:
        """Reads a predictor written by `save()`.

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            CheckpointError: If it is a directory, empty, not a predictor checkpoint, one of
                another format version, or one of another method (e.g. a ``metad2a``
                checkpoint given to ``DaSSRanker.load``).
        """
        data = _read_checkpoint(Path(path))
        path = Path(path)
        method = data.get("method")
        if method != cls.name:
            raise CheckpointError(
                f"{str(path)!r} is a checkpoint of the ranking method {method!r}, not "
                f"{cls.name!r}: load it with create_ranker({method!r}).load(path) or "
                f"the class registered under {method!r}"
            )
        config = PredictorConfig.from_dict(data["config"])
        ranker = cls(config, val_tasks=list(data["val_tasks"]), progress=progress)
        ranker.schema_ = GraphSchema(**{k: tuple(v) for k, v in data["schema"].items()})
        ranker.members_ = []
        for i, member in enumerate(data["members"]):
            model = DaSSPredictor(config.replace(seed=config.seed + i), ranker.schema_)
            model.load_state_dict(_full(member["state_dict"]))
            metasgd = None
            if member["metasgd"] is not None:
                metasgd = MetaSGD(model)
                metasgd.load_state_dict(_full(member["metasgd"]))
            ranker.members_.append((model.eval(), metasgd))
        ranker.logs_ = [TrainLog(**log) for log in data["logs"]]
        ranker.train_tasks_ = list(data["train_tasks"])
        ranker.val_tasks_ = list(data["val_tasks"])
        ranker.recipe_ = dict(data.get("recipe", {}))
        ranker.fitted_ = True
        return ranker

    def check_is_fitted(self) -> None:
        """Raises [`NotFittedError`][dassgnn.ranking.NotFittedError] before ``fit``/``load``."""
        if not getattr(self, "fitted_", False):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(records) or "
                f"{type(self).__name__}.load(path)"
            )

    def __repr__(self) -> str:
        cfg = self.config_
        fitted = ""
        if getattr(self, "logs_", None) and not math.isnan(self.log_.best_val_rho):
            fitted = f", best val rho={self.log_.best_val_rho:.3f}"
        branches = "" if cfg.branches == DEFAULT_BRANCHES else f", branches={list(cfg.branches)}"
        return (
            f"{type(self).__name__}(arch={cfg.arch_encoder!r}, meta={cfg.meta}{branches}{fitted})"
        )
