"""Puts the package version in the site's header (see ``docs/overrides/partials/header.html``).

The version is read from ``dassgnn/__init__.py`` without importing the package, so the
docs build needs neither torch nor an installed dassgnn.
"""

from __future__ import annotations

import ast
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError


def package_version(root: Path) -> str:
    """The ``__version__`` string assigned in ``root/dassgnn/__init__.py``."""
    source = root / "dassgnn" / "__init__.py"
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise PluginError(f"{source} assigns no __version__ string")


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    root = Path(config.config_file_path).parent
    config.extra["package_version"] = package_version(root)
    return config
