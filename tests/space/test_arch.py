import pytest

from dassgnn.space import Arch


def test_id_and_json_round_trip():
    arch = Arch((2, 1), ((16, 12), (8,)))
    assert arch.id == "2,1|16,12|8"
    assert str(arch) == arch.id
    assert repr(arch) == "Arch('2,1|16,12|8')"
    assert Arch.from_id(arch.id) == arch
    assert Arch.from_json(arch.to_json()) == arch
    assert Arch.from_dict(arch.to_dict()) == arch
    assert arch.to_json() == '{"depths":[2,1],"widths":[[16,12],[8]]}'
    assert arch.num_stages == 2 and arch.num_blocks == 3


def test_hashable_and_immutable():
    a = Arch([2, 1], [[16, 12], [8]])  # lists are normalised to tuples
    b = Arch((2, 1), ((16, 12), (8,)))
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.depths = (1, 1)


@pytest.mark.parametrize(
    ("depths", "widths", "error", "match"),
    [
        ((), (), ValueError, "at least one stage"),
        ((0,), ((),), ValueError, "depth must be >= 1"),
        ((2,), ((16,),), ValueError, "stage 0 has depth 2 but 1 widths"),
        ((1, 1), ((16,),), ValueError, "widths has 1 stages but depths has 2"),
        ((1,), ((0,),), ValueError, "positive"),
        ((1.5,), ((16,),), TypeError, "ints"),
        ("12", ((16,),), TypeError, "sequence"),
    ],
)
def test_bad_arch(depths, widths, error, match):
    with pytest.raises(error, match=match):
        Arch(depths, widths)


@pytest.mark.parametrize("bad", ["", "1|", "a,b|1", "2|16"])
def test_bad_id(bad):
    with pytest.raises(ValueError):
        Arch.from_id(bad)


def test_bad_dict():
    with pytest.raises(ValueError, match="exactly the keys"):
        Arch.from_dict({"depths": [1]})
