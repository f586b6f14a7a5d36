import pytest

from dassgnn.registry import Registry


def test_register_create_list():
    reg = Registry("widget")

    @reg.register("b")
    def make_b(x=1):
        return ("b", x)

    @reg.register()
    class Alpha:
        def __init__(self, y=0):
            self.y = y

    assert reg.list() == ["alpha", "b"]
    assert reg.list("a*") == ["alpha"]
    assert reg.create("b", x=3) == ("b", 3)
    assert reg.create("alpha", y=2).y == 2
    assert "b" in reg and len(reg) == 2 and list(reg) == ["alpha", "b"]
    assert repr(reg) == "Registry('widget', ['alpha', 'b'])"


def test_unknown_name_lists_valid_ones():
    reg = Registry("widget")
    reg.register("one")(lambda: 1)
    with pytest.raises(KeyError, match="unknown widget 'two'; valid names: one"):
        reg.create("two")


def test_duplicate_registration():
    reg = Registry("widget")
    reg.register("one")(lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("one")(lambda: 2)
    reg.register("one", overwrite=True)(lambda: 2)
    assert reg.create("one") == 2
