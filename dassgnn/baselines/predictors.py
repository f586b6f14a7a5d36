"""Learned baselines built from the DaSS predictor's pieces: the same model
without meta-learning, and a MetaD2A-style predictor that knows the dataset and
the architecture but not the teacher, trained on accuracies from scratch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from dassgnn.predictor import DaSSRanker, PredictorConfig
from dassgnn.ranking import register_ranker


@register_ranker("dass_pooled")
class PooledDaSS(DaSSRanker):
    """The DaSS predictor without meta-learning: one model fitted on all
    meta-training tasks pooled, no adaptation on the teacher (measured students are
    ignored). Its defaults are the predictor's with ``meta=False``; a ``config`` dict
    changes them (``{"hidden": 32}`` keeps ``meta=False``), a
    [`PredictorConfig`][dassgnn.predictor.PredictorConfig] replaces them.

    Args:
        config (PredictorConfig or dict, optional): (default: `PredictorConfig(meta=False)`)
        val_tasks (int or list[str], optional): As for [`DaSSRanker`][dassgnn.predictor.DaSSRanker].
            (default: `6`)
        train_tasks (list[str], optional): (default: `None`)
        progress (bool, optional): (default: `False`)
    """

    def __init__(
        self,
        config: PredictorConfig | dict[str, Any] | None = None,
        val_tasks: int | Sequence[str] = 6,
        train_tasks: Sequence[str] | None = None,
        progress: bool = False,
    ) -> None:
        super().__init__(config, val_tasks, train_tasks, progress)

    default_config: ClassVar[dict[str, Any]] = {"meta": False}


@register_ranker("metad2a")
class MetaD2A(DaSSRanker):
    """A MetaD2A-style predictor ([Lee et al., ICLR 2021](https://arxiv.org/abs/2107.00860)):
    the dataset (set transformer) and the architecture (GNN) encoders and the
    fusion head, no teacher, no cost or functional inputs, no meta-learning,
    trained on the students' accuracies **from scratch** in the records
    (``label_mode="scratch"``): what a dataset-aware NAS predictor that ignores
    distillation would rank. Measured students are ignored. A ``config`` dict changes
    its defaults, a [`PredictorConfig`][dassgnn.predictor.PredictorConfig] replaces them.

    Args:
        config (PredictorConfig or dict, optional): (default: branches ``arch`` and
            ``dataset``, ``meta=False``)
        val_tasks (int or list[str], optional): (default: `6`)
        train_tasks (list[str], optional): (default: `None`)
        progress (bool, optional): (default: `False`)
    """

    label_mode = "scratch"

    def __init__(
        self,
        config: PredictorConfig | dict[str, Any] | None = None,
        val_tasks: int | Sequence[str] = 6,
        train_tasks: Sequence[str] | None = None,
        progress: bool = False,
    ) -> None:
        super().__init__(config, val_tasks, train_tasks, progress)

    default_config: ClassVar[dict[str, Any]] = {"meta": False, "branches": ("arch", "dataset")}
