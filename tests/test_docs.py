"""The quickstart and the tutorials run as written and show what they print.

**Running.** The fenced blocks of a page run in page order, in a temporary working
folder: ``python`` blocks in this process, in one namespace, with one torch thread and
the global random generators seeded; ``bash`` blocks with ``bash -euo pipefail``, with
the ``dassgnn`` command of this Python first on ``PATH`` and ``OMP_NUM_THREADS=1``. A
block of any language right after ``<!-- file: NAME -->`` (a collection plan, say) is
written to ``NAME`` in that folder when its turn comes. A bash block right after
``<!-- not run: REASON -->`` is shown only (it needs a GPU or a Ray cluster, say). A
page that needs the shared datasets says so with ``<!-- needs: shared_data -->`` and is
skipped where they are absent.

**Output.** What a python or bash block prints on stdout is shown right after it as::

    <!-- output -->
    ```text
    ...
    ```

A block that prints must show it, and a block that prints nothing must not. The test
fails where the shown output and the printed one differ by this rule:

1. What changes from run to run is masked: a number followed by a time unit (``12 s``,
   ``0.5s``, ``3.1 ms``, ``2 min``, ``1 h``); a number in the column of a table whose
   header is ``s`` or ``ms`` (the number's last character under the header's, up to
   the next blank line); a date and time in ISO 8601 form (``2026-11-30T12:00:24+00:00``);
   a file size (``212.0 KiB``, ``3 MB``).
2. The rest is compared word by word, words being split at whitespace, so that where a
   line is wrapped and how wide a column is padded do not matter.
3. Words must be equal, except that a decimal number (digits, a point, digits) may
   differ by one unit of its last shown digit, with as many decimals: a rounding
   boundary crossed by another build's float arithmetic.

Everything else must be identical: accuracies, scores, parameter counts, architecture
ids and the order of the rows. Training and scoring are seeded and run on one thread,
so they repeat exactly on the machine type of the CI.

**Updating.** ``DASSGNN_UPDATE_DOCS=1 python -m pytest tests/test_docs.py`` (add
``-k quickstart`` and so on for one page) runs the pages and rewrites every output block
that does not match what its block printed, adding and removing blocks where needed;
printed lines wider than 88 characters are wrapped at spaces, continued with four
spaces. Run it after a change that changes what the pages print (a new predictor
checkpoint, say) and review the diff.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import re
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(
    p
    for p in [DOCS / "index.md", DOCS / "quickstart.md", *(DOCS / "tutorials").glob("*.md")]
    if p.is_file()
)
UPDATE_ENV = "DASSGNN_UPDATE_DOCS"
WIDTH = 88
RUN_LANGS = ("python", "bash")
FENCE = re.compile(r"^```\s*([\w+-]*)")
MARK = re.compile(r"^<!--\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    """A fenced block of a page: its language, the lines of its fences (0-based), its
    text, the ``<!-- ... -->`` marks just above it, and the output block shown after it."""

    lang: str
    start: int
    end: int
    code: str
    marks: list[str]
    output: Block | None = field(default=None, repr=False)

    def mark(self, prefix: str) -> str | None:
        """The text after ``prefix`` of the first mark starting with it."""
        for m in self.marks:
            if m.startswith(prefix):
                return m[len(prefix) :].strip()
        return None

    @property
    def runs(self) -> bool:
        return self.lang == "python" or (self.lang == "bash" and self.mark("not run:") is None)


def parse(text: str) -> list[Block]:
    """The fenced blocks of a page, each output block attached to the block it follows
    (and left out of the list)."""
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise ValueError(f"the block at line {i + 1} is not closed")
        marks, k = [], i - 1
        while k >= 0 and (not lines[k].strip() or MARK.match(lines[k])):
            if lines[k].strip():
                marks.insert(0, MARK.match(lines[k]).group(1))
            k -= 1
        block = Block(fence.group(1), i, end, "".join(x + "\n" for x in lines[i + 1 : end]), marks)
        if "output" in marks:
            previous = blocks[-1] if blocks else None
            if block.lang != "text" or previous is None or not previous.runs or k > previous.end:
                raise ValueError(
                    f"line {i + 1}: <!-- output --> must stand between a python or bash block "
                    "and a ```text block right after it"
                )
            previous.output = block
        else:
            blocks.append(block)
        i = end + 1
    return blocks


# ---------------------------------------------------------------------------- comparison

TIMING = re.compile(
    r"(?<![\w.])\d+(?:\.\d+)?(?=\s?(?:ms|s|sec|seconds?|min|minutes?|h|hours?)\b)"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"
    r"|(?<![\w.])\d+(?:\.\d+)?(?=\s?(?:[kKMGT]i?B|B)\b)"
)
TIME_HEADER = re.compile(r"(?<![\d.] )(?<!\S)(?:ms|s)(?!\S)")
NUMBER = re.compile(r"(?<!\S)\d+(?:\.\d+)?(?!\S)")
DECIMAL = re.compile(r"\d+\.\d+")


def mask_timings(text: str) -> str:
    """``text`` with its timings, dates and file sizes replaced by ``<time>`` (rule 1 of
    the module's text)."""
    out, columns = [], set()
    for line in text.split("\n"):
        if not line.strip():
            columns = set()
        elif headers := {m.end() for m in TIME_HEADER.finditer(line)}:
            columns = headers
        elif columns:
            line = NUMBER.sub(lambda m, c=columns: "<time>" if m.end() in c else m.group(), line)
        out.append(TIMING.sub("<time>", line))
    return "\n".join(out)


def _same_word(shown: str, printed: str) -> bool:
    if shown == printed:
        return True
    if DECIMAL.split(shown) != DECIMAL.split(printed):
        return False
    for a, b in zip(DECIMAL.findall(shown), DECIMAL.findall(printed), strict=True):
        if len(a.split(".")[1]) != len(b.split(".")[1]):
            return False
        if abs(int(a.replace(".", "")) - int(b.replace(".", ""))) > 1:
            return False
    return True


def same_output(shown: str, printed: str) -> bool:
    """Whether ``shown`` is what was ``printed``, by the rule of the module's text."""
    a, b = mask_timings(shown).split(), mask_timings(printed).split()
    return len(a) == len(b) and all(_same_word(x, y) for x, y in zip(a, b, strict=True))


def shown_lines(printed: str) -> list[str]:
    """The lines of an output block showing ``printed``: trailing spaces and blank lines
    at either end dropped, lines wider than the page wrapped."""
    out: list[str] = []
    for line in printed.strip("\n").split("\n"):
        line = line.rstrip()
        if len(line) <= WIDTH:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        out += textwrap.wrap(
            line,
            WIDTH,
            initial_indent="",
            subsequent_indent=indent + "    ",
            break_long_words=False,
            break_on_hyphens=False,
        )
    return out


def updated_page(text: str, blocks: list[Block], printed: dict[int, str]) -> str:
    """``text`` with the output block of every block in ``printed`` (by its index in
    ``blocks``) showing what it printed; matching blocks are left as they are."""
    lines = text.split("\n")
    for i in sorted(printed, reverse=True):
        block, out = blocks[i], printed[i]
        if block.output is not None and out.strip() and same_output(block.output.code, out):
            continue
        new = ["", "<!-- output -->", "```text", *shown_lines(out), "```"] if out.strip() else []
        stop = block.end + 1 if block.output is None else block.output.end + 1
        lines[block.end + 1 : stop] = new
    return "\n".join(lines)


# --------------------------------------------------------------------------- the pages


def _runs(page: Path) -> bool:
    return any(b.runs for b in parse(page.read_text()))


def _run_bash(code: str, cwd: Path, name: str) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{name} exited with {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


def _run_python(code: str, namespace: dict, name: str) -> str:
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            exec(compile(code, name, "exec"), namespace)
    except Exception as error:  # name the page and block in the failure
        raise AssertionError(f"{name} failed: {error!r}") from error
    return buffer.getvalue()


@pytest.fixture
def one_thread():
    """Torch on one thread and the global generators seeded, as the CI runs the pages."""
    import random

    import numpy as np
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 (the legacy global generator a page may use)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if _runs(p)], ids=lambda p: p.name)
def test_page_runs_and_shows_its_output(page, tmp_path, monkeypatch, request, one_thread):
    text = page.read_text()
    if "<!-- needs: shared_data -->" in text:
        request.getfixturevalue("shared_data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    blocks = parse(text)
    start = time.perf_counter()
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    printed: dict[int, str] = {}
    stale: list[str] = []
    for i, block in enumerate(blocks):
        name = f"{page.name}, {block.lang} block {i} (line {block.start + 1})"
        target = block.mark("file:")
        if target:
            (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / target).write_text(block.code)
        if not block.runs:
            assert block.output is None, f"{name} is not run, so it cannot show output"
            continue
        if block.lang == "python":
            printed[i] = _run_python(block.code, namespace, name)
        else:
            printed[i] = _run_bash(block.code, tmp_path, name)
        shown = None if block.output is None else block.output.code
        if not printed[i].strip() and shown is not None:
            stale.append(f"{name} prints nothing but the page shows output")
        elif printed[i].strip() and shown is None:
            stale.append(f"{name} prints output that the page does not show")
        elif printed[i].strip() and not same_output(shown, printed[i]):
            diff = difflib.unified_diff(
                mask_timings(shown).splitlines(),
                mask_timings("\n".join(shown_lines(printed[i]))).splitlines(),
                "shown",
                "printed",
                lineterm="",
            )
            stale.append(f"{name} shows other output than it prints:\n" + "\n".join(diff))
    # the time the page's header states (shown with pytest -s)
    print(f"{page.name} ran in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if os.environ.get(UPDATE_ENV):
        new = updated_page(text, blocks, printed)
        if new != text:
            page.write_text(new)
        return
    assert not stale, "\n\n".join(stale) + (
        f"\n\nIf the new output is right: {UPDATE_ENV}=1 python -m pytest "
        f"tests/test_docs.py -k {page.stem}"
    )


# ------------------------------------------------------------------ the mechanism itself


def test_output_blocks_are_parsed_and_attached():
    text = (
        "# t\n\n```python\nprint(1)\n```\n\n<!-- output -->\n```text\n1\n```\n\n"
        "<!-- not run: needs a GPU -->\n```bash\nnvidia-smi\n```\n\n"
        "<!-- file: plan.toml -->\n```toml\na = 1\n```\n"
    )
    py, gpu, plan = parse(text)
    assert py.runs and py.output is not None and py.output.code == "1\n"
    assert not gpu.runs and gpu.mark("not run:") == "needs a GPU"
    assert plan.mark("file:") == "plan.toml" and plan.code == "a = 1\n" and not plan.runs
    with pytest.raises(ValueError, match="must stand between"):
        parse("text\n\n<!-- output -->\n```text\n1\n```\n")


def test_output_blocks_are_updated_in_place():
    python, bash = "```python\nprint(1)\n```\n", "```bash\necho\n```\n"
    text = f"{python}\nprose\n\n{bash}\n<!-- output -->\n```text\nold\n```\n"
    blocks = parse(text)
    new = updated_page(text, blocks, {0: "1\n", 1: ""})
    assert new == f"{python}\n<!-- output -->\n```text\n1\n```\n\nprose\n\n{bash}"
    again = parse(new)
    assert updated_page(new, again, {0: "1\n", 1: ""}) == new


def test_timings_are_masked_and_numbers_compared_by_the_rule():
    table = (
        "measured students (3, KD-trained in 15 s, 5 s each):\n"
        " KD acc %   before      s  arch\n"
        "    98.06   0.9676      5  1,2,2|16|16,12|8,10\n"
        "    97.50   0.9197     12  1,2,1|16|13,10|11\n"
    )
    slower = table.replace("15 s", "41 s").replace("5 s each", "14 s each")
    slower = slower.replace("      5  1,2,2", "     13  1,2,2").replace("12  1,2,1", "30  1,2,1")
    assert same_output(table, slower)
    assert same_output(table, table.replace("0.9676", "0.9677"))  # one unit of the last digit
    assert not same_output(table, table.replace("0.9676", "0.9678"))
    assert not same_output(table, table.replace("98.06", "98.6"))
    assert not same_output(table, table.replace("16,12", "16,13"))  # an architecture id
    assert not same_output(table, table.replace("98.06", "97.50", 1))
    assert same_output("a  b\nc", "a b c")  # wrapping and padding do not matter
    assert not same_output("3 students", "4 students")
    stats = "created at 2026-11-30T12:00:24+00:00\n  file size        212.0 KiB"
    assert same_output(stats, stats.replace("12:00:24", "13:41:02").replace("212.0", "220.5"))
    long = "word " * 30
    assert all(len(x) <= WIDTH for x in shown_lines(long)) and same_output(
        "\n".join(shown_lines(long)), long
    )


def test_every_page_is_in_the_site_navigation():
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    for page in DOCS.rglob("*.md"):
        rel = page.relative_to(DOCS).as_posix()
        assert rel in nav, f"{rel} is not in mkdocs.yml's nav"
