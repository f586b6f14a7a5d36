"""Search for the best students of your own teacher on your own data, without training them.

    from dassgnn.search import search

    result = search(teacher, "path/to/data.npz", max_params=200_000, top_k=5)
    print(result.table())
    student = result.build(0)  # the teacher's weights remapped into the best candidate

[`search()`][dassgnn.search.search] derives the search space from the teacher
([`space_for_teacher()`][dassgnn.search.space_for_teacher]: the first registered space that
takes it, such as the library's ResNets and torchvision-style BasicBlock ResNets), scores a
sampled pool or runs NSGA-II with the predictor as surrogate, and returns a
[`SearchResult`][dassgnn.search.SearchResult]. With ``shots=k`` it first KD-trains $k$
candidates spread over the cost range and lets the predictor adapt on their measured
accuracies (`dassgnn.search.shots`).
"""

from dassgnn.search.api import STRATEGIES, search
from dassgnn.search.evolution import PYMOO_MISSING, ArchCodec
from dassgnn.search.result import Candidate, SearchResult, pareto_front
from dassgnn.search.scoring import Scorer, measure_latency
from dassgnn.search.shots import MeasuredStudent, choose_shots, label_recipe, measure_students
from dassgnn.search.teacher import (
    TeacherCheckpointError,
    UnsupportedTeacherError,
    load_teacher,
    space_for_teacher,
    teacher_shape,
)

__all__ = [
    "PYMOO_MISSING",
    "STRATEGIES",
    "ArchCodec",
    "Candidate",
    "MeasuredStudent",
    "Scorer",
    "SearchResult",
    "TeacherCheckpointError",
    "UnsupportedTeacherError",
    "choose_shots",
    "label_recipe",
    "load_teacher",
    "measure_latency",
    "measure_students",
    "pareto_front",
    "search",
    "space_for_teacher",
    "teacher_shape",
]
