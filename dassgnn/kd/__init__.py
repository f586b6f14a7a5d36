"""Knowledge distillation: the loss, recipes, the training loop and its batched twin."""

from dassgnn.kd.api import distill, init_student, train_scratch, train_teacher
from dassgnn.kd.augment import channel_stats, normalize, random_crop, random_hflip
from dassgnn.kd.batched import train_batched
from dassgnn.kd.loss import KDLoss
from dassgnn.kd.recipe import Recipe
from dassgnn.kd.train import TeacherCache, TrainingDivergedError, TrainResult, evaluate, train

__all__ = [
    "KDLoss",
    "Recipe",
    "TeacherCache",
    "TrainResult",
    "TrainingDivergedError",
    "channel_stats",
    "distill",
    "evaluate",
    "init_student",
    "normalize",
    "random_crop",
    "random_hflip",
    "train",
    "train_batched",
    "train_scratch",
    "train_teacher",
]
