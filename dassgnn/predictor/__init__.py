"""The DaSS predictor: a meta-learned predictor of a student's accuracy after
knowledge distillation from a given teacher on a given dataset, adapted on the teacher
and on any students measured on the task."""

from dassgnn.predictor.checkpoints import (
    CheckpointError,
    checkpoint_path,
    default_checkpoint_path,
    load_default_predictor,
    load_ranker,
)
from dassgnn.predictor.config import ARCH_ENCODERS, BRANCHES, DEFAULT_BRANCHES, PredictorConfig
from dassgnn.predictor.episodes import (
    load_episodes,
    task_episode,
    task_keys,
    task_labels,
    task_runs,
)
from dassgnn.predictor.estimator import CHUNK, DaSSRanker, choose_val_tasks, teacher_accuracy
from dassgnn.predictor.inputs import (
    STUDENT_FIELDS,
    StudentInputs,
    TaskContext,
    prepare_context,
    prepare_students,
    support_set,
    teacher_row,
)
from dassgnn.predictor.metasgd import Episode, MetaSGD, adapt_on, predict
from dassgnn.predictor.model import (
    DaSSPredictor,
    pairwise_rank_loss,
    prediction_loss,
    soft_bound,
    support_loss,
    support_weights,
)
from dassgnn.predictor.residual import ResidualRidge
from dassgnn.predictor.training import TrainLog, evaluate, meta_train, validation_score

__all__ = [
    "ARCH_ENCODERS",
    "BRANCHES",
    "CHUNK",
    "DEFAULT_BRANCHES",
    "STUDENT_FIELDS",
    "CheckpointError",
    "DaSSPredictor",
    "DaSSRanker",
    "Episode",
    "MetaSGD",
    "PredictorConfig",
    "ResidualRidge",
    "StudentInputs",
    "TaskContext",
    "TrainLog",
    "adapt_on",
    "checkpoint_path",
    "choose_val_tasks",
    "default_checkpoint_path",
    "evaluate",
    "load_default_predictor",
    "load_episodes",
    "load_ranker",
    "meta_train",
    "pairwise_rank_loss",
    "predict",
    "prediction_loss",
    "prepare_context",
    "prepare_students",
    "soft_bound",
    "support_loss",
    "support_set",
    "support_weights",
    "task_episode",
    "task_keys",
    "task_labels",
    "task_runs",
    "teacher_accuracy",
    "teacher_row",
    "validation_score",
]
