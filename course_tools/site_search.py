"""The site's offline full-text search: an index built with the pages, and a small search box.

:func:`page_sections` reads a rendered page (nbconvert's HTML) back into its sections, one per
heading: the heading's ``id`` (the page anchor), its text, the prose below it and the code of
its cells (outputs are left out). The same pass gives the contents sidebar its headings.

:func:`write_index` writes every page's sections to ``_site/search/index.json`` and the same
data as ``_site/search/index.js`` (``window.COURSE_SEARCH_INDEX = {...}``): a page opened from
disk (``file://``) may not ``fetch`` a JSON file, but it may load a script, so the search box
(``search.js``, copied from ``site_static/``) loads the ``.js`` copy the first time it is used.
Nothing is fetched from the network; equations in results are typeset by the local MathJax.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["Section", "page_sections", "write_index", "STATIC"]

STATIC = Path(__file__).resolve().parent / "site_static"
"""The site's own scripts and styles (``search.js``, ``site.css``)."""

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
         "track", "wbr"}
_BLOCK = {"p", "div", "li", "ul", "ol", "pre", "br", "tr", "td", "th", "table", "blockquote", "dt", "dd",
          "h1", "h2", "h3", "h4", "h5", "h6", "section", "details", "summary", "hr"}
_SKIP_TAGS = {"script", "style", "template", "svg", "nav", "button"}
_SKIP_CLASSES = ("jp-OutputArea", "jp-InputPrompt", "jp-OutputPrompt", "anchor-link", "jp-Collapser",
                 "course-launch", "course-static-note", "course-sidebar", "course-nav")
_HEADING = re.compile(r"^h([1-6])$")


@dataclass
class Section:
    """The part of a page from one heading to the next."""

    anchor: str
    """The heading's ``id`` (``""`` for text above the first heading)."""
    heading: str
    level: int
    """1 for the page title (``h1``), 2 for ``h2``... (0 above the first heading)."""
    text: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)

    def record(self) -> dict:
        d = asdict(self)
        d["text"] = _squash("".join(self.text))
        d["code"] = _squash("".join(self.code))
        return d


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class _Reader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, skipped, code)
        self.sections = [Section("", "", 0)]
        self.heading: list[str] | None = None
        self.in_main = False

    def _flags(self) -> tuple[bool, bool]:
        return (self.stack[-1][1], self.stack[-1][2]) if self.stack else (False, False)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "main":
            self.in_main = True
        classes = attrs.get("class") or ""
        skipped, code = self._flags()
        skipped = skipped or tag in _SKIP_TAGS or any(c in classes for c in _SKIP_CLASSES)
        code = code or "jp-InputArea-editor" in classes
        m = _HEADING.match(tag)
        if m and not skipped and self.in_main and attrs.get("id"):
            self.sections.append(Section(attrs["id"], "", int(m.group(1))))
            self.heading = []
        if tag in _BLOCK:
            self._add(" ")
        if tag not in _VOID:
            self.stack.append((tag, skipped, code))

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCK:
            self._add(" ")

    def handle_endtag(self, tag):
        if not any(t == tag for t, _, _ in self.stack):
            return  # a stray end tag
        while self.stack and self.stack.pop()[0] != tag:
            pass
        if _HEADING.match(tag) and self.heading is not None:
            self.sections[-1].heading = _squash("".join(self.heading))
            self.heading = None
        if tag == "main":
            self.in_main = False
        if tag in _BLOCK:
            self._add(" ")

    def _add(self, data: str):
        skipped, code = self._flags()
        if skipped or not self.in_main:
            return
        if self.heading is not None:
            self.heading.append(data)
        elif code:
            self.sections[-1].code.append(data)
        else:
            self.sections[-1].text.append(data)

    def handle_data(self, data):
        self._add(data)


def page_sections(page_html: str) -> list[Section]:
    """The sections of a rendered page, in order (only what is inside its ``<main>``)."""
    reader = _Reader()
    reader.feed(page_html)
    reader.close()
    return [s for s in reader.sections if s.anchor or _squash("".join(s.text + s.code))]


def write_index(out: Path, pages: list[dict], sections: list[list[Section]]) -> Path:
    """Write ``out/search/`` (the index as JSON and as a script, and the search box's script).

    ``pages``: one ``{"name", "title", "url"}`` per page, ``url`` relative to the site root;
    ``sections``: each page's sections. Returns the JSON file.
    """
    folder = Path(out) / "search"
    folder.mkdir(parents=True, exist_ok=True)
    index = {
        "version": 1,
        "pages": pages,
        "sections": [{"page": i, **s.record()} for i, secs in enumerate(sections) for s in secs],
    }
    data = json.dumps(index, ensure_ascii=False, separators=(",", ":"))
    (folder / "index.json").write_text(data, encoding="utf-8")
    # "</" inside a script would end it early in an inline copy; escape it anyway
    (folder / "index.js").write_text("window.COURSE_SEARCH_INDEX = " + data.replace("</", "<\\/") + ";\n",
                                     encoding="utf-8")
    shutil.copy2(STATIC / "search.js", folder / "search.js")
    return folder / "index.json"
