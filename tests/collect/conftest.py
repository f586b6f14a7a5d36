import dataclasses

import pytest

from dassgnn.collect import Plan, TaskGroup


def tiny_plan_dict(**overrides) -> dict:
    """A plan small enough for tests: 8x8 digits, a 2-stage space, 1-epoch runs."""
    plan = {
        "name": "tiny",
        "recipe": {"epochs": 1, "lr": 0.02, "eval_every": 0, "crop_padding": 1},
        "teacher_recipe": {"epochs": 3, "lr": 0.1, "eval_every": 0, "crop_padding": 1},
        "tasks": [
            {
                "dataset": "digits",
                "num_classes": 3,
                "num_tasks": 1,
                "image_size": 8,
                "channels": 1,
                "role": "meta-train",
                "space": {"widths": [4, 8], "depths": [2, 2], "strides": [1, 2]},
                "students": 4,
                "kd_seeds": [0, 1],
                "scratch_seeds": [0],
            }
        ],
    }
    group_fields = {f.name for f in dataclasses.fields(TaskGroup)}
    for key, value in overrides.items():
        if key in group_fields:
            plan["tasks"][0][key] = value
        else:
            plan[key] = value
    return plan


@pytest.fixture
def tiny_plan() -> Plan:
    return Plan.from_dict(tiny_plan_dict())
