"""Builds the site's Cite page (``cite.md``) from ``CITATION.cff`` at build time.

The page gives BibTeX for the work the file asks to be cited first (its
``preferred-citation``, the DaSS paper) and for the software itself, converted
from the file's fields, so the two never disagree. A CITATION.cff whose
``version`` differs from the package's is reported as a warning (an error under
``--strict``).
"""

from __future__ import annotations

import logging
import re
import textwrap
from pathlib import Path
from typing import Any

import yaml
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.cite")

PAGE = "cite.md"
CFF = "CITATION.cff"
LINE = 80
"""BibTeX lines are wrapped to this width (within braces, BibTeX ignores line breaks)."""

_ENTRY_TYPES = {
    "article": "article",
    "book": "book",
    "conference-paper": "inproceedings",
    "proceedings": "proceedings",
    "report": "techreport",
    "software": "software",
    "thesis": "phdthesis",
}
"""BibTeX entry types of CFF reference types; any other type becomes ``misc``."""

_LATEX_SPECIALS = {c: "\\" + c for c in "&%$#_"}
_STOP_WORDS = {"a", "an", "the", "on", "of", "for", "in"}


def _tex(text: object) -> str:
    return "".join(_LATEX_SPECIALS.get(c, c) for c in str(text))


def _person(author: dict[str, Any]) -> str:
    """``Family, Given`` for a person, ``{Name}`` (kept whole) for an entity."""
    if "family-names" not in author:
        return "{" + _tex(author.get("name", "Anonymous")) + "}"
    family = " ".join(str(author[k]) for k in ("name-particle", "family-names") if author.get(k))
    parts = [family]
    if author.get("name-suffix"):
        parts.append(str(author["name-suffix"]))
    if author.get("given-names"):
        parts.append(str(author["given-names"]))
    return _tex(", ".join(parts))


def _plain_author(author: dict[str, Any]) -> str:
    if "family-names" not in author:
        return str(author.get("name", "Anonymous"))
    names = ("given-names", "name-particle", "family-names", "name-suffix")
    return " ".join(str(author[k]) for k in names if author.get(k))


def _year(ref: dict[str, Any]) -> str | None:
    if ref.get("year"):
        return str(ref["year"])
    released = ref.get("date-released") or ref.get("date-published")
    return str(released)[:4] if released else None


def _key(ref: dict[str, Any]) -> str:
    """A Google-Scholar-style key: first author's family name, year, first title word."""
    words = [w for w in re.findall(r"[A-Za-z0-9]+", str(ref.get("title", ""))) if w]
    first = next((w for w in words if w.lower() not in _STOP_WORDS), "ref").lower()
    authors = ref.get("authors") or [{}]
    if "family-names" not in authors[0]:
        return first  # software by an entity: the title's first word ("dassgnn")
    family = re.sub(r"[^a-z]", "", str(authors[0]["family-names"]).lower())
    return f"{family}{_year(ref) or ''}{first}"


def bibtex(ref: dict[str, Any]) -> str:
    """The BibTeX entry of a CFF reference (or of the CFF file itself)."""
    entry = _ENTRY_TYPES.get(str(ref.get("type", "misc")), "misc")
    fields: list[tuple[str, str]] = []
    if ref.get("authors"):
        fields.append(("author", " and ".join(_person(a) for a in ref["authors"])))
    fields.append(("title", "{" + _tex(ref.get("title", "")) + "}"))
    collection = ref.get("collection-title") or (ref.get("conference") or {}).get("name")
    if collection:
        fields.append(("booktitle" if entry == "inproceedings" else "journal", _tex(collection)))
    if ref.get("journal"):
        fields.append(("journal", _tex(ref["journal"])))
    for cff_key, bib_key in (("volume", "volume"), ("issue", "number"), ("publisher", "publisher")):
        value = ref.get(cff_key)
        if isinstance(value, dict):
            value = value.get("name")
        if value:
            fields.append((bib_key, _tex(value)))
    if ref.get("start") and ref.get("end"):
        fields.append(("pages", f"{ref['start']}--{ref['end']}"))
    if _year(ref):
        fields.append(("year", _year(ref) or ""))
    if entry == "software":
        for key in ("version", "license"):
            if ref.get(key):
                fields.append((key, _tex(ref[key])))
    if ref.get("doi"):
        fields.append(("doi", str(ref["doi"])))
    url = ref.get("url") or ref.get("repository-code")
    if url:
        fields.append(("url", str(url)))
    width = max(len(k) for k, _ in fields)
    indent = " " * (width + 6)
    body = ",\n".join(
        textwrap.fill(
            f"  {k.ljust(width)} = {{{v}}}",
            LINE,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        for k, v in fields
    )
    return f"@{entry}{{{_key(ref)},\n{body}\n}}"


def plain(ref: dict[str, Any]) -> str:
    """A one-line citation in text: authors, title, where, year."""
    authors = ", ".join(_plain_author(a) for a in ref.get("authors") or [])
    where = ref.get("collection-title") or ref.get("journal")
    if ref.get("type") == "software" and ref.get("version"):
        where = f"Software, version {ref['version']}"
    year = _year(ref)
    if year and where and year in str(where):
        year = None  # "... (ICLR 2023)" says it already
    parts = [authors, f"*{ref.get('title', '')}*", where, year]
    return ". ".join(str(p).rstrip(".") for p in parts if p) + "."


def page(cff: dict[str, Any], repo_url: str | None) -> str:
    """The Markdown of the Cite page."""
    software = {**cff, "type": "software"}
    lines = ["# Cite", ""]
    if cff.get("message"):
        lines += [str(cff["message"]), ""]
    preferred = cff.get("preferred-citation")
    if preferred:
        lines += [
            "## The paper",
            "",
            plain(preferred),
            "",
            "```bibtex",
            bibtex(preferred),
            "```",
            "",
        ]
    lines += ["## This software", "", plain(software), "", "```bibtex", bibtex(software), "```", ""]
    source = f"[`{CFF}`]({repo_url.rstrip('/')}/blob/main/{CFF})" if repo_url else f"`{CFF}`"
    lines += [
        f"Both entries are generated from the repository's {source} when the site is built; "
        "GitHub's *Cite this repository* button reads the same file.",
        "",
    ]
    return "\n".join(lines)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    path = Path(config.config_file_path).parent / CFF
    cff = yaml.safe_load(path.read_text(encoding="utf-8"))
    version = config.extra.get("package_version")
    if version is not None and str(cff.get("version")) != str(version):
        log.warning("%s says version %s, the package is %s", CFF, cff.get("version"), version)
    files.append(File.generated(config, PAGE, content=page(cff, config.repo_url)))
    return files
