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
        ({"epochs": 0}, "epochs must be a positive int"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"lr": 0}, "lr must be positive"),
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


def test_unknown_field():
    with pytest.raises(ValueError, match=r"unknown recipe fields \['epoch'\]"):
        Recipe.from_dict({"epoch": 3})
