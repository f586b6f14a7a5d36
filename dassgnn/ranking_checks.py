"""[`check_ranker()`][dassgnn.ranking.check_ranker]: the promises of
[`RankingMethod`][dassgnn.ranking.RankingMethod], checked on a method as the test suite checks
the library's own (re-exported by `dassgnn.ranking`)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from dassgnn.space import Arch

if TYPE_CHECKING:
    from dassgnn.data import DatasetSplits, Task
    from dassgnn.ranking import RankingMethod, Teacher
    from dassgnn.records import RecordStore

__all__ = ["check_ranker"]


def check_ranker(
    method: RankingMethod,
    task: Task | DatasetSplits,
    teacher: Teacher,
    records: RecordStore | None = None,
    *,
    num_archs: int = 6,
    seed: int = 0,
) -> np.ndarray:
    """Checks that ``method`` keeps the promises of
    [`RankingMethod`][dassgnn.ranking.RankingMethod].

    The constructor stored its settings only
    ([`get_params()`][dassgnn.ranking.RankingMethod.get_params]
    round-trips, keys and values); a method that needs fitting raises
    [`NotFittedError`][dassgnn.ranking.NotFittedError]
    before [`fit()`][dassgnn.ranking.RankingMethod.fit]; ``fit`` returns ``self`` and leaves
    the settings as they were, and a fresh copy fitted on the same records scores the same;
    ``score`` gives one float a candidate, the same twice, in the candidates' order, and
    rejects an empty list and architectures outside the space; with
    three measured students it still gives one float a candidate (the same as without them
    for a method that does not use them, the same for any order of them) and rejects an
    accuracy outside $[0, 1]$, a measured student outside the space and one that is also a
    candidate.

    Args:
        method (RankingMethod): A fresh, unfitted method.
        task (Task or DatasetSplits): A small task.
        teacher (Teacher): Its teacher.
        records (RecordStore, optional): What ``fit`` learns from.
        num_archs (int, optional): Candidates sampled from the teacher's space. (default: 6)
        seed (int, optional): Seed of the sampling. (default: 0)

    Returns:
        np.ndarray: The scores of the sampled candidates.

    Raises:
        AssertionError: At the first broken promise.
    """
    clone = type(method)(**method.get_params())
    assert clone.get_params().keys() == method.get_params().keys(), "get_params() round trip"
    assert _same(clone.get_params(), method.get_params()), "get_params() values round trip"
    settings = copy.deepcopy(method.get_params())
    archs = teacher.space.sample(num_archs + 3, seed=seed)
    archs, shots = archs[:num_archs], archs[num_archs:]
    from dassgnn.ranking import NotFittedError

    if method.needs_fit:
        message = f"{method!r} scored before fit() without NotFittedError"
        _refuses(NotFittedError, message, method.score, task, teacher, archs)
    assert method.fit(records) is method, "fit() must return self"
    assert _same(method.get_params(), settings), "fit() changed the constructor's settings"
    scores = method.score(task, teacher, archs)
    assert isinstance(scores, np.ndarray) and scores.dtype == np.float64, "scores: float64 array"
    assert scores.shape == (num_archs,), f"scores have shape {scores.shape}"
    again = method.score(task, teacher, archs)
    assert np.array_equal(scores, again, equal_nan=True), "score() is not deterministic"
    reverse = method.score(task, teacher, archs[::-1])
    assert np.allclose(reverse[::-1], scores, equal_nan=True, rtol=1e-5, atol=1e-6), (
        "a candidate's score depends on its position in the list"
    )
    for bad in ([], [Arch((1,) * 9, ((1,),) * 9)]):
        _refuses(ValueError, f"score() accepted archs={bad!r}", method.score, task, teacher, bad)
    measured = {a: 0.5 + 0.1 * i for i, a in enumerate(shots)}
    with_shots = method.score(task, teacher, archs, measured=measured)
    assert with_shots.shape == (num_archs,) and with_shots.dtype == np.float64, (
        "score(measured=...) must give one float64 a candidate"
    )
    if not method.uses_measured:
        assert np.array_equal(with_shots, scores, equal_nan=True), (
            f"{type(method).__name__} does not use measured students (uses_measured=False) "
            "but its scores changed with them"
        )
    refit = type(method)(**method.get_params()).fit(records).score(task, teacher, archs)
    assert np.allclose(refit, scores, equal_nan=True, rtol=1e-5, atol=1e-6), (
        "fitting a fresh copy with the same settings gives other scores"
    )
    shuffled = dict(reversed(list(measured.items())))
    assert np.allclose(
        method.score(task, teacher, archs, measured=shuffled), with_shots, equal_nan=True
    ), "scores depend on the order of the measured students"
    for bad_measured in (
        {shots[0]: 1.5},
        {Arch((1,) * 9, ((1,),) * 9): 0.5},
        {archs[0]: 0.5},
    ):
        message = f"score() accepted measured={bad_measured!r}"
        _refuses(ValueError, message, method.score, task, teacher, archs, measured=bad_measured)
    return scores


def _refuses(
    error: type[Exception], message: str, call: Callable[..., Any], *args: Any, **kwargs: Any
) -> None:
    """Raises ``AssertionError(message)`` unless ``call(*args, **kwargs)`` raises ``error``."""
    try:
        call(*args, **kwargs)
    except error:
        return
    raise AssertionError(message)


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two settings dicts hold equal values (arrays and tensors compared by value)."""
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not np.array_equal(np.asarray(x), np.asarray(y)):
                return False
        elif x is not y and x != y:
            return False
    return True
