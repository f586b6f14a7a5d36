"""The shape of the docs pages: code that fits the page, and tutorials that say first what
they need.

- Every line of every fenced block of ``docs/**/*.md`` (Python, bash, TOML, the shown
  output) is at most 88 characters wide, the width of the page's code column, so no
  block scrolls sideways. The output blocks that ``tests/test_docs.py`` writes wrap
  longer printed lines.
- The quickstart and every tutorial start, right under the title, with an
  ``!!! info "What this page needs"`` box naming the data, the time on 2 CPU cores and
  whether a GPU is needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
WIDTH = 88
NEEDS = '!!! info "What this page needs"'
# Pages whose wide blocks belong to another piece of work, with the reason.
WIDE_ELSEWHERE: dict[str, str] = {}


def _code_lines(page: Path) -> list[tuple[int, str]]:
    """(line number, text) of every line inside a fenced block of ``page``."""
    out, inside = [], False
    for n, line in enumerate(page.read_text().splitlines(), 1):
        if re.match(r"^\s*```", line):
            inside = not inside
        elif inside:
            out.append((n, line))
    return out


def _pages() -> list:
    params = []
    for page in sorted(DOCS.rglob("*.md")):
        rel = page.relative_to(DOCS).as_posix()
        marks = ()
        if rel in WIDE_ELSEWHERE:
            marks = pytest.mark.xfail(reason=WIDE_ELSEWHERE[rel], strict=False)
        params.append(pytest.param(page, id=rel, marks=marks))
    return params


@pytest.mark.parametrize("page", _pages())
def test_code_lines_fit_the_page(page):
    wide = [f"line {n}: {len(x)} characters" for n, x in _code_lines(page) if len(x) > WIDTH]
    assert not wide, f"{page.relative_to(DOCS)} has code lines over {WIDTH} characters: " + (
        "; ".join(wide)
    )


@pytest.mark.parametrize(
    "page",
    [DOCS / "quickstart.md", *sorted((DOCS / "tutorials").glob("*.md"))],
    ids=lambda p: p.name,
)
def test_page_starts_with_what_it_needs(page):
    lines = page.read_text().splitlines()
    body = [x for x in lines[1:] if x.strip() and not x.startswith("<!--")]
    assert lines[0].startswith("# ") and body and body[0] == NEEDS, (
        f"{page.name} must start, under its title, with {NEEDS}"
    )
    box = []
    for line in body[1:]:
        if not line.startswith("    "):
            break
        box.append(line.strip())
    for item in ("**Data:**", "**Time:**", "**GPU:**"):
        assert any(x.startswith(f"- {item}") for x in box), f"{page.name}'s box lacks {item}"
    time = next(x for x in box if x.startswith("- **Time:**"))
    assert "2 CPU cores" in time, f"{page.name}: say the time on 2 CPU cores"
