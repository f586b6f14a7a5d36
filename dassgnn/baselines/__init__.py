"""Baselines of the DaSS predictor, each a registered ranking method
([`RankingMethod`][dassgnn.ranking.RankingMethod]): random, parameter count and
FLOPs (in [`dassgnn.ranking`][dassgnn.ranking]), zero-cost proxies at
initialisation, a DisWOT-style teacher–student similarity, the DaSS predictor
without meta-learning, a MetaD2A-style predictor trained on accuracies from
scratch, and ``ridge``: a ridge regression fitted on the students the user measured
(the few-shot bar that is not meta-learned)."""

from dassgnn.baselines.diswot import DisWOT, relation_and_cam
from dassgnn.baselines.predictors import MetaD2A, PooledDaSS
from dassgnn.baselines.random import RandomRanker
from dassgnn.baselines.ridge import RidgeRanker, ridge_features
from dassgnn.baselines.zero_cost import (
    NASWOT,
    PROXIES,
    GradNorm,
    Snip,
    SynFlow,
    ZeroCostProxy,
    grad_norm,
    naswot,
    snip,
    synflow,
    task_batch,
)

__all__ = [
    "NASWOT",
    "PROXIES",
    "DisWOT",
    "GradNorm",
    "MetaD2A",
    "PooledDaSS",
    "RandomRanker",
    "RidgeRanker",
    "Snip",
    "SynFlow",
    "ZeroCostProxy",
    "grad_norm",
    "naswot",
    "relation_and_cam",
    "ridge_features",
    "snip",
    "synflow",
    "task_batch",
]
