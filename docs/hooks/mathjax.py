"""Serves MathJax from the site itself, so formulas render with no network.

The MathJax 3 browser build comes from the ``django-static-mathjax`` wheel on PyPI
(a plain copy of MathJax's ``es5`` folder, no dependencies; in the ``docs`` extra).
At build time this hook adds the files that ``tex-mml-chtml.js`` loads to the site
under ``javascripts/mathjax/``: the script itself, the CHTML web fonts, the TeX
extensions it loads on demand, and the menu and accessibility components. Nothing
is committed and nothing is fetched when a page is read.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

SITE_FOLDER = "javascripts/mathjax"
"""Where the site holds MathJax (``extra_javascript`` names its script there)."""

SCRIPT = "tex-mml-chtml.js"
"""The combined component the pages load (TeX input, CHTML output)."""

PARTS = (
    "input/tex/extensions",  # \require and the packages autoloaded by macro
    "output/chtml/fonts/woff-v2",  # the CHTML web fonts
    "ui",  # the context menu's lazily loaded parts
    "a11y",  # accessibility extensions the menu can switch on
    "sre",  # the speech rule engine they use
)
"""Folders of MathJax's ``es5`` build that ``tex-mml-chtml.js`` may load at run time."""


def mathjax_root() -> Path:
    """The ``es5`` folder of the installed MathJax copy."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise PluginError(
            "the docs need MathJax from the 'django-static-mathjax' package: "
            'pip install -e ".[docs]"'
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    root = package / "static" / "mathjax" / "es5"
    if not (root / SCRIPT).is_file():
        raise PluginError(f"no MathJax {SCRIPT} under {root}: reinstall django-static-mathjax")
    return root


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = mathjax_root()
    sources = [root / SCRIPT, root.parent / "LICENSE"]
    for part in PARTS:
        sources += sorted(p for p in (root / part).rglob("*") if p.is_file())
    for source in sources:
        rel = "LICENSE" if source.name == "LICENSE" else source.relative_to(root).as_posix()
        files.append(File.generated(config, f"{SITE_FOLDER}/{rel}", abs_src_path=str(source)))
    return files
