"""Shared test fixtures.

Tests marked ``@pytest.mark.shared_data`` need the ``.npz`` datasets. Their
folder is taken from ``DASSGNN_DATA``; if that is unset and
``<repo root>/../shared/datasets`` exists, ``DASSGNN_DATA`` is set to it for the
session. Where neither gives an existing folder, those tests are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

DATA_ENV = "DASSGNN_DATA"
DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def _shared_dir() -> Path | None:
    env = os.environ.get(DATA_ENV)
    path = Path(env) if env else DEFAULT_SHARED
    return path if path.is_dir() else None


def _skip_reason() -> str:
    env = os.environ.get(DATA_ENV)
    if env:
        return f"needs the shared datasets: {DATA_ENV}={env} is not a folder"
    return f"needs the shared datasets: set {DATA_ENV} or provide {DEFAULT_SHARED}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _shared_dir() is not None:
        return
    skip = pytest.mark.skip(reason=_skip_reason())
    for item in items:
        if item.get_closest_marker("shared_data") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _shared_data_env() -> Iterator[None]:
    """Points ``DASSGNN_DATA`` at ``../shared/datasets`` for the session when it is unset."""
    with pytest.MonkeyPatch.context() as mp:
        if not os.environ.get(DATA_ENV) and DEFAULT_SHARED.is_dir():
            mp.setenv(DATA_ENV, str(DEFAULT_SHARED))
        yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder with the shared ``.npz`` datasets; skips the test where there is none."""
    path = _shared_dir()
    if path is None:
        pytest.skip(_skip_reason())
    return path


@pytest.fixture(scope="session")
def digits16():
    """The 8x8 digits (shipped with scikit-learn) as a 5-class task at 16x16, 1 channel."""
    from dassgnn.data import Task

    return Task("digits", classes=(0, 1, 2, 3, 4), image_size=16, channels=1).load()


@pytest.fixture(scope="session")
def small_space():
    """A small teacher-shaped space for fast tests."""
    from dassgnn.space import ResNetSpace

    return ResNetSpace(widths=(8, 16), depths=(2, 2), strides=(1, 2))


@pytest.fixture(scope="session")
def digits_teacher(digits16, small_space):
    """A teacher of ``small_space`` trained for a few epochs on ``digits16``."""
    from dassgnn.kd import Recipe, train_teacher

    recipe = Recipe(epochs=10, lr=0.1, crop_padding=1, eval_every=0)
    model, result = train_teacher(small_space, digits16, recipe, seed=0)
    return model, result


def write_npz(path, splits):
    """Writes dataset splits as an ``.npz`` in the library's layout; returns ``path``."""
    import numpy as np

    np.savez(
        path,
        x_train=splits.train.images,
        x_test=splits.test.images,
        y_train=splits.train.labels,
        y_test=splits.test.labels,
        classes=np.array(splits.classes),
    )
    return path
