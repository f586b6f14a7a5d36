import numpy as np
import pytest

from dassgnn.kd import Recipe


def test_defaults_round_trip_and_key():
    r = Recipe()
    assert r.nesterov and r.schedule == "cosine" and r.init == "copy_first"
    assert Recipe.from_dict(r.to_dict()) == r
    assert r.key == Recipe().key and len(r.key) == 12
    assert r.replace(epochs=3).key != r.key
    assert hash(r) == hash(Recipe())
    assert '"epochs":10' in r.to_json()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, "epochs must be >= 1, got 0"),
        ({"lr": 0}, "lr must be a finite number > 0, got 0.0"),
        ({"momentum": 0.0}, "nesterov=True needs momentum"),
        ({"schedule": "step"}, "schedule must be one of"),
        ({"warmup_epochs": 10}, "warmup_epochs"),
        ({"alpha": -0.1}, "alpha"),
        ({"crop_padding": -1}, "crop_padding"),
        ({"weight_decay": -1}, "weight_decay"),
    ],
)
def test_bad_recipe(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Recipe(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 1.5}, "batch_size must be an int, got float 1.5"),
        ({"lr": "0.1"}, "lr must be a finite number > 0, got str '0.1'"),
        ({"hflip": 1}, "hflip must be true or false"),
    ],
)
def test_recipe_field_types(kwargs, match):
    with pytest.raises(TypeError, match=match):
        Recipe(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"label_smoothing": 2}, r"label_smoothing must be a finite number in \[0, 1\), got 2.0"),
        ({"max_loss": -1}, "max_loss must be a finite number > 0"),
        ({"lr": float("inf")}, "lr must be a finite number > 0, got inf"),
        ({"weight_decay": float("nan")}, "weight_decay must be a finite number >= 0, got nan"),
        ({"init": "nosuch"}, r"init must be one of \['random', 'copy_first'"),
        ({"temperature": 0}, "temperature must be a finite number > 0"),
    ],
)
def test_recipe_values_checked_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Recipe(**kwargs)


def test_numbers_are_canonical():
    assert Recipe(lr=1).key == Recipe(lr=1.0).key
    assert Recipe(epochs=np.int64(3)) == Recipe(epochs=3)


def test_unknown_field():
    with pytest.raises(ValueError, match=r"unknown recipe fields \['epoch'\]"):
        Recipe.from_dict({"epoch": 3})
