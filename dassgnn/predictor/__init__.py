"""The DaSS predictor: a meta-learned predictor of a student's accuracy after
knowledge distillation from a given teacher on a given dataset."""

from dassgnn.predictor.config import ARCH_ENCODERS, BRANCHES, PredictorConfig
from dassgnn.predictor.episodes import load_episodes, task_episode, task_keys, task_labels
from dassgnn.predictor.estimator import (
    CheckpointError,
    DaSSRanker,
    checkpoint_path,
    choose_val_tasks,
    default_checkpoint_path,
    load_default_predictor,
    teacher_accuracy,
)
from dassgnn.predictor.inputs import TaskInputs, prepare_inputs, teacher_support
from dassgnn.predictor.metasgd import Episode, MetaSGD, TrainLog, evaluate, meta_train
from dassgnn.predictor.model import DaSSPredictor, pairwise_rank_loss, prediction_loss

__all__ = [
    "ARCH_ENCODERS",
    "BRANCHES",
    "CheckpointError",
    "DaSSPredictor",
    "DaSSRanker",
    "Episode",
    "MetaSGD",
    "PredictorConfig",
    "TaskInputs",
    "TrainLog",
    "checkpoint_path",
    "choose_val_tasks",
    "default_checkpoint_path",
    "evaluate",
    "load_default_predictor",
    "load_episodes",
    "meta_train",
    "pairwise_rank_loss",
    "prediction_loss",
    "prepare_inputs",
    "task_episode",
    "task_keys",
    "task_labels",
    "teacher_accuracy",
    "teacher_support",
]
