"""Named registries for pluggable components, in the style of ``timm``.

A [`Registry`][dassgnn.registry.Registry] maps names to factories. Components register themselves
with a decorator and are created by name::

    SPACES = Registry("search space")

    @SPACES.register("resnet")
    class ResNetSpace: ...

    space = SPACES.create("resnet", widths=(8, 16, 32, 64))
    SPACES.list()  # ['resnet']

An unknown name raises a `KeyError` that lists the valid ones.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    r"""A mapping from names to factories (classes or functions).

    Args:
        kind (str): What the registry holds, used in error messages
            (e.g. ``"search space"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}

    def register(
        self, name: str | None = None, *, overwrite: bool = False
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that registers a factory under ``name``.

        Args:
            name (str, optional): The name to register under. Defaults to the
                factory's ``__name__`` in lower case.
            overwrite (bool, optional): Allow replacing an existing entry.
                (default: `False`)
        """

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            key = name if name is not None else factory.__name__.lower()
            if not isinstance(key, str) or not key:
                raise ValueError(f"{self.kind} name must be a non-empty string, got {key!r}")
            if key in self._entries and not overwrite:
                raise ValueError(
                    f"{self.kind} {key!r} is already registered; pass overwrite=True to replace it"
                )
            self._entries[key] = factory
            return factory

        return decorator

    def get(self, name: str) -> Callable[..., T]:
        """Returns the factory registered under ``name``."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            valid = ", ".join(sorted(self._entries)) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; valid names: {valid}") from None

    def create(self, name: str, *args: Any, **kwargs: Any) -> T:
        """Creates the component registered under ``name`` with the given arguments."""
        return self.get(name)(*args, **kwargs)

    def list(self, pattern: str | None = None) -> list[str]:
        """Sorted registered names, optionally filtered by a glob ``pattern``."""
        names = sorted(self._entries)
        if pattern is not None:
            names = [n for n in names if fnmatch.fnmatch(n, pattern)]
        return names

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.kind!r}, {self.list()})"
