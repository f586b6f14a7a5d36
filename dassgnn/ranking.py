"""The interface of every method that ranks students for a task, and its registry.

The DaSS predictor, the size baselines, the zero-cost proxies and every other
ranking method implement [`RankingMethod`][dassgnn.ranking.RankingMethod] in the scikit-learn
manner:

- the constructor only stores its settings;
- [`fit()`][dassgnn.ranking.RankingMethod.fit] learns from a record store and returns ``self``
  (a no-op for training-free methods);
- [`score()`][dassgnn.ranking.RankingMethod.score] gives one float per candidate architecture,
  **higher is better**. A method may return NaN for a candidate it cannot
  score (a proxy that overflows, say); NaN is never replaced by a number, and
  the benchmark reports it as it is.

Using a method that needs fitting before [`fit()`][dassgnn.ranking.RankingMethod.fit] (or
``load``) raises [`NotFittedError`][dassgnn.ranking.NotFittedError]. Methods are created by name::

    from dassgnn.ranking import create_ranker, list_rankers

    list_rankers()                          # ['flops', 'params', ...]
    ranker = create_ranker("flops").fit(None)
    scores = ranker.score(task, teacher, archs)

**Measured students.** ``score(task, teacher, archs, measured={arch: accuracy})`` passes the
KD accuracies of a few students that the user already trained on this task, from this
teacher, with the recipe the method was fitted for. Few-shot methods
([`uses_measured`][dassgnn.ranking.RankingMethod.uses_measured]: the DaSS predictor adapts on
them, ``ridge`` fits on them) use them; the others ignore them, and say so. A measured student
must not also be a candidate: its accuracy is known, so it is an error to ask for its score
(drop it from ``archs``).

A new method subclasses [`RankingMethod`][dassgnn.ranking.RankingMethod], implements ``_score``
(and ``_fit`` if it learns), and registers itself with
[`register_ranker()`][dassgnn.ranking.register_ranker];
[`check_ranker()`][dassgnn.ranking.check_ranker] tests it as the suite tests the built-in ones.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
from torch import nn

from dassgnn.registry import Registry
from dassgnn.space import Arch, SearchSpace, as_space
from dassgnn.utils.validation import check_float

if TYPE_CHECKING:
    from dassgnn.data import DatasetSplits, Task
    from dassgnn.records import RecordStore, TeacherRecord

__all__ = [
    "RANKERS",
    "FlopsRanker",
    "NotFittedError",
    "ParamsRanker",
    "RankingMethod",
    "Teacher",
    "check_measured",
    "check_ranker",
    "create_ranker",
    "list_rankers",
    "register_ranker",
    "task_shape",
]

R = TypeVar("R", bound="RankingMethod")


class NotFittedError(ValueError, AttributeError):
    """A method that learns was used before
    [`RankingMethod.fit()`][dassgnn.ranking.RankingMethod.fit] or ``load``
    (a `ValueError` and an `AttributeError`, as in scikit-learn)."""


@dataclass(frozen=True, eq=False)
class Teacher:
    """The trained teacher that students are ranked for.

    Args:
        model (nn.Module): The trained network, built by ``space`` from ``space.teacher``.
        space (SearchSpace or dict): The space the teacher spans (or its settings).
        accuracy (float, optional): Its measured test accuracy in $[0, 1]$,
            if known. (default: `None`)
    """

    model: nn.Module
    space: SearchSpace
    accuracy: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(self.model).__name__}")
        object.__setattr__(self, "space", as_space(self.space))
        if self.accuracy is not None:
            acc = check_float(self.accuracy, "accuracy", minimum=0, maximum=1)
            object.__setattr__(self, "accuracy", acc)

    @classmethod
    def from_record(cls, record: TeacherRecord) -> Teacher:
        """The teacher of a record store (its weights must have been loaded)."""
        return cls(record.build_model(), as_space(record.space), record.test_acc)

    def __repr__(self) -> str:
        acc = "" if self.accuracy is None else f", accuracy={self.accuracy:.4f}"
        return f"{self.__class__.__name__}(space={self.space!r}{acc})"


def task_shape(task: Task | DatasetSplits) -> tuple[int, int, int | tuple[int, int]]:
    """``(num_classes, channels, image_size)`` of a [`Task`][dassgnn.data.Task]
    (without loading it) or of loaded [`DatasetSplits`][dassgnn.data.DatasetSplits]."""
    try:
        return task.num_classes, task.channels, task.image_size
    except AttributeError:
        raise TypeError(
            f"task must be a Task or DatasetSplits, got {type(task).__name__}"
        ) from None


class RankingMethod:
    """Base class of the ranking methods (see the module's text).

    Subclasses set `name`, `needs_fit` and implement `_score()`
    (and `_fit()` when `needs_fit`).
    """

    name: ClassVar[str] = ""
    """The registered name."""
    needs_fit: ClassVar[bool] = False
    """Whether `fit()` must be called before `score()`."""
    uses_measured: ClassVar[bool] = False
    """Whether `score()` uses the accuracies of measured students (few-shot methods); the
    others ignore them."""

    def fit(self: R, records: RecordStore | None = None) -> R:
        """Learns from ``records`` (ignored by training-free methods).

        Args:
            records (RecordStore, optional): The meta-dataset.

        Returns:
            RankingMethod: ``self``.
        """
        if self.needs_fit and records is None:
            raise ValueError(f"{self.name} learns from records: fit(records) needs a RecordStore")
        self._fit(records)
        self.fitted_ = True
        return self

    def _fit(self, records: RecordStore | None) -> None:
        """Learns from ``records``; training-free methods do nothing."""

    @property
    def is_fitted(self) -> bool:
        """Whether the method can score: fitted or loaded, or training-free."""
        return not self.needs_fit or getattr(self, "fitted_", False)

    def check_is_fitted(self) -> None:
        """Raises [`NotFittedError`][dassgnn.ranking.NotFittedError] if the method needs fitting
        and has not been fitted."""
        if not self.is_fitted:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(records) or load() "
                "before score()"
            )

    def score(
        self,
        task: Task | DatasetSplits,
        teacher: Teacher,
        archs: Sequence[Arch],
        measured: Mapping[Arch, float] | None = None,
    ) -> np.ndarray:
        """Scores candidate students of ``teacher`` on ``task``; higher is better.

        Args:
            task (Task or DatasetSplits): The task (a [`Task`][dassgnn.data.Task]
                or the loaded data).
            teacher (Teacher): The trained teacher; ``archs`` are members of its space.
            archs (Sequence[Arch]): The candidates (at least one).
            measured (Mapping[Arch, float], optional): KD accuracies in $[0, 1]$ of
                students already trained on this task from this teacher (with the
                recipe the method was fitted for), none of them a candidate. Used by
                few-shot methods (`uses_measured`), ignored by the others.
                (default: `None`)

        Returns:
            np.ndarray: float64 $(len(archs),)$; NaN where a candidate
            cannot be scored.

        Raises:
            NotFittedError: If the method needs fitting and was not fitted.
            TypeError, ValueError: For a bad task, teacher, candidate list or
                measured students (outside the space, an accuracy outside
                $[0, 1]$, a measured student that is also a candidate).
        """
        self.check_is_fitted()
        if not isinstance(teacher, Teacher):
            raise TypeError(
                f"teacher must be a dassgnn.ranking.Teacher, got {type(teacher).__name__}"
            )
        task_shape(task)
        checked = _check_archs(teacher.space, archs)
        known = check_measured(teacher.space, measured, checked)
        scores = np.asarray(self._score(task, teacher, checked, known), dtype=np.float64)
        if scores.shape != (len(checked),):
            raise RuntimeError(
                f"{type(self).__name__}._score returned shape {scores.shape} for "
                f"{len(checked)} archs"
            )
        return scores

    def _score(
        self,
        task: Task | DatasetSplits,
        teacher: Teacher,
        archs: list[Arch],
        measured: dict[Arch, float],
    ) -> np.ndarray:
        """The scores of checked ``archs``; ``measured`` is checked too (empty when none)."""
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        """The constructor's settings (as stored by the constructor)."""
        signature = inspect.signature(type(self).__init__)
        return {
            name: getattr(self, name)
            for name in signature.parameters
            if name != "self" and hasattr(self, name)
        }

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def _check_archs(space: SearchSpace, archs: Sequence[Arch]) -> list[Arch]:
    if isinstance(archs, (str, bytes)) or not isinstance(archs, Sequence):
        raise TypeError(f"archs must be a sequence of Arch, got {type(archs).__name__}")
    if len(archs) == 0:
        raise ValueError("archs is empty: give at least one candidate architecture")
    out = []
    for i, arch in enumerate(archs):
        reason = space.why_not(arch)
        if reason is not None:
            raise (TypeError if not isinstance(arch, Arch) else ValueError)(
                f"archs[{i}] is not a member of the teacher's space {space!r}: {reason}"
            )
        out.append(arch)
    return out


def check_measured(
    space: SearchSpace, measured: Mapping[Arch, float] | None, candidates: Sequence[Arch] = ()
) -> dict[Arch, float]:
    """Checks the measured students passed to
    [`RankingMethod.score()`][dassgnn.ranking.RankingMethod.score].

    Args:
        space (SearchSpace): The teacher's space.
        measured (Mapping[Arch, float] or None): Measured KD accuracies.
        candidates (Sequence[Arch], optional): The candidates, which must not be measured.

    Returns:
        dict[Arch, float]: The measured students (empty for `None`), accuracies as floats.

    Raises:
        TypeError: If ``measured`` is not a mapping of architectures to numbers.
        ValueError: If a student is outside the space, an accuracy is not in $[0, 1]$, or a
            measured student is also a candidate.
    """
    if measured is None:
        return {}
    if not isinstance(measured, Mapping):
        raise TypeError(
            "measured must map Arch to its measured accuracy (a dict), got "
            f"{type(measured).__name__}"
        )
    out: dict[Arch, float] = {}
    for arch, acc in measured.items():
        reason = space.why_not(arch)
        if reason is not None:
            raise (TypeError if not isinstance(arch, Arch) else ValueError)(
                f"measured student {arch!r} is not a member of the teacher's space: {reason}"
            )
        if isinstance(acc, bool) or not isinstance(acc, (int, float, np.number)):
            raise TypeError(
                f"measured accuracy of {arch.id} must be a number in [0, 1], got "
                f"{type(acc).__name__} {acc!r}"
            )
        value = float(acc)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(
                f"measured accuracy of {arch.id} must be in [0, 1] (a fraction, not a "
                f"percentage), got {value!r}"
            )
        out[arch] = value
    if out and candidates:
        known = {space.canonical(a) for a in out}
        depths = {a.depths for a in known}  # canonical forms keep the depths: only
        for i, arch in enumerate(candidates):  # candidates of those depths can be measured
            if arch.depths in depths and (arch in known or space.canonical(arch) in known):
                raise ValueError(
                    f"archs[{i}] ({arch.id}) is also a measured student: its accuracy is known, "
                    "so drop it from the candidates"
                )
    return out


RANKERS: Registry[RankingMethod] = Registry("ranking method")
"""The registry of ranking methods."""


def register_ranker(name: str) -> Any:
    """Decorator that registers a [`RankingMethod`][dassgnn.ranking.RankingMethod] subclass under
    ``name``."""

    def decorator(cls: type[RankingMethod]) -> type[RankingMethod]:
        if not (isinstance(cls, type) and issubclass(cls, RankingMethod)):
            raise TypeError(f"a ranking method must subclass RankingMethod, got {cls!r}")
        cls.name = name
        RANKERS.register(name)(cls)
        return cls

    return decorator


BUILTIN_MODULES = ("dassgnn.predictor", "dassgnn.baselines")
"""Modules whose import registers the library's own ranking methods beside
``params`` and ``flops`` (imported on first use of the registry, since they
import this module)."""


def _load_builtin() -> None:
    import importlib

    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def create_ranker(name: str, **kwargs: Any) -> RankingMethod:
    """Creates the ranking method registered under ``name`` with the given settings."""
    _load_builtin()
    return RANKERS.create(name, **kwargs)


def list_rankers(pattern: str | None = None) -> list[str]:
    """The names of the registered ranking methods (the library's own and any
    registered since)."""
    _load_builtin()
    return RANKERS.list(pattern)


@register_ranker("params")
class ParamsRanker(RankingMethod):
    """Ranks by parameter count: the bigger student is predicted better.

    A strong baseline on these tasks: under a fixed recipe, capacity ranks
    students well wherever the task is not saturated. Ignores measured students.
    """

    def __init__(self) -> None:
        pass

    def _score(
        self,
        task: Task | DatasetSplits,
        teacher: Teacher,
        archs: list[Arch],
        measured: dict[Arch, float],
    ) -> np.ndarray:
        k, c, _ = task_shape(task)
        return np.array([teacher.space.params(a, k, c) for a in archs], dtype=np.float64)


@register_ranker("flops")
class FlopsRanker(RankingMethod):
    """Ranks by multiply-accumulate operations at the task's image size. Ignores measured
    students."""

    def __init__(self) -> None:
        pass

    def _score(
        self,
        task: Task | DatasetSplits,
        teacher: Teacher,
        archs: list[Arch],
        measured: dict[Arch, float],
    ) -> np.ndarray:
        k, c, size = task_shape(task)
        return np.array([teacher.space.flops(a, k, c, size) for a in archs], dtype=np.float64)


from dassgnn.ranking_checks import check_ranker  # noqa: E402  (it reads the names above)
