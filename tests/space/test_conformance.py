"""Every registered search space keeps the promises of the SearchSpace protocol
(as timm's tests run over ``list_models()``)."""

import pytest

import tests.space.toy_space  # noqa: F401  (registers "toy_plain", a space written as a plugin)
from dassgnn.space import Arch, create_space, list_spaces
from dassgnn.space.checks import SpaceCheckError, check_space


@pytest.mark.parametrize("name", list_spaces())
def test_registered_space_conforms(name):
    check_space(create_space(name))


def test_toy_plugin_is_registered():
    assert "toy_plain" in list_spaces() and "resnet" in list_spaces()


@pytest.mark.parametrize("name", list_spaces())
def test_a_broken_promise_is_caught(name, monkeypatch):
    space = create_space(name)
    real = space.params
    monkeypatch.setattr(space, "params", lambda arch, *a: real(arch, *a) + 1)
    with pytest.raises(SpaceCheckError, match="params"):
        check_space(space)


def test_resnet_space_with_other_settings():
    check_space(
        create_space("resnet", widths=(4, 8, 16, 32), depths=(1, 2, 2, 1), strides=(1, 2, 2, 2))
    )
    check_space(
        create_space("resnet", widths=(6, 12), depths=(2, 2), strides=(1, 2)), in_channels=1
    )


def test_parse_checks_membership():
    space = create_space("resnet")
    assert space.parse("1,1,1|8|8|8") == Arch((1, 1, 1), ((8,), (8,), (8,)))
    with pytest.raises(ValueError, match="depth 4 > maximum 3"):
        space.parse("4,1,1|8,8,8,8|8|8")
    with pytest.raises(ValueError, match="malformed arch id"):
        space.parse("1,a|8")


@pytest.mark.parametrize("name", ["resnet", "tv_resnet"])
def test_a_broken_encoding_is_caught(name, monkeypatch):
    space = create_space(name)
    monkeypatch.setattr(space, "from_genotype", lambda x: space.teacher)
    with pytest.raises(SpaceCheckError, match=r"from_genotype\(genotype"):
        check_space(space)
    space = create_space(name)
    monkeypatch.setattr(space, "smallest", lambda: space.teacher)
    with pytest.raises(SpaceCheckError, match=r"smallest\(\) = .* costs"):
        check_space(space)


def test_optional_members_may_be_missing(monkeypatch):
    # the toy plugin implements none of from_module, from_state_dict, genotype, smallest
    check_space(create_space("toy_plain"))
    space = create_space("toy_plain")
    full = space.flat_encoding
    monkeypatch.setattr(space, "flat_encoding", lambda arch: full(arch)[:-1])
    with pytest.raises(SpaceCheckError, match="flat_size"):
        check_space(space)
