"""Every Python code block of the quickstart and the tutorials runs as written,
so the docs cannot rot. Blocks of a page run in order in one namespace, in a
temporary working folder. A page that needs the shared datasets says so with
``<!-- needs: shared_data -->`` and is skipped where they are absent."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(
    p
    for p in [DOCS / "index.md", DOCS / "quickstart.md", *(DOCS / "tutorials").glob("*.md")]
    if p.is_file()
)
BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)


def _blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p)], ids=lambda p: p.name)
def test_page_code_runs(page, tmp_path, monkeypatch, request):
    text = page.read_text()
    if "<!-- needs: shared_data -->" in text:
        request.getfixturevalue("shared_data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(_blocks(page)):
        try:
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as error:  # name the page and block in the failure
            raise AssertionError(f"{page.name}, code block {i} failed: {error!r}") from error


def test_every_page_is_in_the_site_navigation():
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    for page in DOCS.rglob("*.md"):
        rel = page.relative_to(DOCS).as_posix()
        assert rel in nav, f"{rel} is not in mkdocs.yml's nav"
