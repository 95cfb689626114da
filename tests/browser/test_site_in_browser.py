"""The static site reads offline in Chromium: equations typeset, every image loads, no errors;
the contents sidebar, the launch links, the search box and MathJax's menu work.

The pages are built from the stored notebooks without executing them (``--no-execute``, a few
seconds): what is checked here, the page frame, MathJax, search and the images, does not depend
on the outputs. ``tests/test_site.py`` builds the real, executed site.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import unquote

import pytest

from tests.conftest import NOTEBOOKS, ROOT

pytestmark = pytest.mark.browser

REPOSITORY = "https://github.com/example-org/course-handout"
REF = "v2"


def _optional_font(url: str) -> bool:
    """A TeX web font MathJax probes for before falling back to the bundled STIX-Web fonts."""
    return "/mathjax/fonts/HTML-CSS/TeX/otf/" in url


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "_site"
    subprocess.run([sys.executable, "-m", "course_tools.website", "--no-execute", "--out", str(out),
                    "--cache", "", "--repository", REPOSITORY, "--ref", REF],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    return out


class _Watch:
    """A page that may load only files: every other request is aborted and recorded."""

    def __init__(self, browser, local: str = "file:"):
        self.page = browser.context.new_page()
        self.outside, self.failed, self.console = [], [], []

        def route(r):
            if r.request.url.startswith(local):
                return r.continue_()
            self.outside.append(r.request.url)
            return r.abort()

        self.page.route("**/*", route)
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400
                     and not _optional_font(r.url) else None)
        self.page.on("console", lambda m: self.console.append(m.text) if m.type == "error"
                     and not _optional_font(m.location.get("url", "")) else None)
        self.page.on("pageerror", lambda e: self.console.append(str(e)))

    def open(self, path):
        self.page.goto(path if isinstance(path, str) else path.as_uri())
        self.page.wait_for_function("() => window.MathJax && MathJax.isReady", timeout=60_000)
        self.typeset()

    def typeset(self):
        self.page.evaluate("() => new Promise(done => MathJax.Hub.Queue(done))")

    def check_clean(self, name):
        assert not self.outside, f"{name}: the page asked the network for {self.outside}"
        # MathJax 2.7's HTML-CSS output first tries the TeX web fonts for \\mathbb / \\mathcal
        # glyphs, then falls back to the bundled STIX-Web fonts; the offline copy ships only the
        # latter, so those optional probes fail by design (the typesetting checks still hold).
        failed = [u for u in self.failed if not _optional_font(u)]
        assert not failed, f"{name}: these requests failed: {failed}"
        assert not self.console, f"{name}: console errors: {self.console}"


# Text a reader sees (laid out, not code, not typeset math) with a "$" or a TeX command left in it.
_RAW_TEX_JS = r"""(root) => {
  const skip = 'script, style, pre, code, textarea, .MathJax, .MathJax_Display, .MathJax_SVG, '
             + '.MJX_Assistive_MathML, .MathJax_Preview';
  const found = [];
  const walk = document.createTreeWalker(root || document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip) || !el.getClientRects().length) continue;
    const t = n.textContent;
    if (/\$|\\[A-Za-z]+|\\[()[\]{}]/.test(t)) found.push(t.trim().slice(0, 120));
  }
  return found;
}"""


def _page_path(site, name):
    return site / "index.html" if name == "index" else site / "notebooks" / f"{name}.html"


@pytest.mark.parametrize("name", ["index"] + [p.stem for p in NOTEBOOKS])
def test_page_renders_offline(site, browser, name):
    w = _Watch(browser)
    try:
        w.open(_page_path(site, name))
        page = w.page
        facts = page.evaluate("""() => ({
            tex: document.querySelectorAll('script[type^="math/tex"]').length,
            typeset: document.querySelectorAll('.MathJax, .MathJax_Display').length,
            mathErrors: document.querySelectorAll('.MathJax_Error, merror').length
                        + (document.body.innerText.includes('Math Processing Error') ? 1 : 0),
            broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
                                        .map(i => i.getAttribute('src')),
            images: document.images.length,
        })""")
        raw_tex = page.evaluate(_RAW_TEX_JS)
        w.check_clean(name)
    finally:
        w.page.close()
    assert not facts["broken"], f"{name}: images that did not load: {facts['broken']}"
    assert facts["mathErrors"] == 0, f"{name}: MathJax reported errors"
    has_math = "$" in _page_path(site, name).read_text(encoding="utf-8").split("<body", 1)[1]
    assert facts["tex"] > 0 or not has_math, f"{name}: MathJax found no equation"
    assert facts["typeset"] >= facts["tex"], (
        f"{name}: {facts['tex']} equations found, {facts['typeset']} typeset")
    assert not raw_tex, f"{name}: visible text with raw TeX or $ delimiters: {raw_tex}"


@pytest.mark.parametrize("name", ["index"] + [p.stem for p in NOTEBOOKS])
def test_sidebar_and_launch_links(site, browser, name):
    w = _Watch(browser)
    try:
        w.open(_page_path(site, name))
        facts = w.page.evaluate("""() => {
            const side = document.querySelector('nav.course-sidebar');
            const box = side && side.getBoundingClientRect();
            return {
              visible: !!box && box.width > 150 && box.height > 300,
              search: !!(side && side.querySelector('input#course-search-input[type=search]')),
              notebooks: side ? [...side.querySelectorAll('.course-toc > li > a')]
                                .map(a => a.getAttribute('href')) : [],
              current: side ? [...side.querySelectorAll('[aria-current=page]')]
                              .map(a => a.getAttribute('href')) : [],
              sections: side ? [...side.querySelectorAll('.course-current ol a')]
                               .map(a => [a.getAttribute('href'),
                                          !!document.getElementById(a.getAttribute('href').slice(1))]) : [],
              launch: [...document.querySelectorAll('.course-launch a')]
                        .map(a => [a.textContent.trim(), a.href]),
            };
        }""")
        w.check_clean(name)
    finally:
        w.page.close()
    prefix = "" if name != "index" else "notebooks/"
    assert facts["visible"] and facts["search"], f"{name}: no contents sidebar with a search box"
    assert facts["notebooks"] == [f"{prefix}{p.stem}.html" for p in NOTEBOOKS]
    if name == "index":
        assert facts["current"] == ["index.html"] and not facts["sections"]
        names = [p.stem for p in NOTEBOOKS]
    else:
        assert facts["current"] == [f"{name}.html"]
        assert len(facts["sections"]) >= 3, f"{name}: the sidebar lists no sections of the page"
        missing = [href for href, ok in facts["sections"] if not ok]
        assert not missing, f"{name}: sidebar links to no heading: {missing}"
        names = [name]
    launch = facts["launch"]
    assert [t for t, _ in launch] == ["JupyterLab", "Binder", "Colab"] * len(names), launch
    for i, nb in enumerate(names):
        lab, binder, colab = (u for _, u in launch[3 * i: 3 * i + 3])
        # the handout's layout: the notebooks sit at its root, not in notebooks/
        assert lab == f"http://localhost:8888/lab/tree/{nb}.ipynb"
        assert binder.startswith("https://mybinder.org/v2/gh/example-org/course-handout/v2?")
        assert unquote(binder).endswith(f"urlpath=lab/tree/{nb}.ipynb")
        assert colab == f"https://colab.research.google.com/github/example-org/course-handout/blob/v2/{nb}.ipynb"


def _word_in_one_notebook(site) -> tuple[str, int]:
    """A word of a section heading that occurs (case-insensitively) in exactly one notebook."""
    index = json.loads((site / "search" / "index.json").read_text(encoding="utf-8"))
    hay: dict[int, str] = {}
    for s in index["sections"]:
        hay[s["page"]] = hay.get(s["page"], "") + " " + " ".join((s["heading"], s["text"], s["code"])).lower()
    candidates = sorted({w for s in index["sections"] if s["level"] >= 2
                         for w in re.findall(r"[A-Za-z]{7,}", s["heading"])})
    for word in candidates:
        pages = [p for p, text in hay.items() if word.lower() in text]
        if len(pages) == 1:
            return word, pages[0]
    raise AssertionError("no heading word found in exactly one notebook")


@pytest.mark.parametrize("start", ["index", NOTEBOOKS[0].stem])
def test_search_finds_the_one_notebook_with_a_word(site, browser, start):
    word, page_no = _word_in_one_notebook(site)
    target = NOTEBOOKS[page_no].stem
    w = _Watch(browser)
    try:
        w.open(_page_path(site, start))
        page = w.page
        page.click("#course-search-input")
        page.keyboard.type(word, delay=20)
        page.wait_for_selector("#course-search-results li a", timeout=10_000)
        w.typeset()
        status = page.inner_text("#course-search-status")
        hrefs = page.eval_on_selector_all("#course-search-results li a", "els => els.map(a => a.href)")
        marks = page.eval_on_selector_all("#course-search-results mark", "els => els.map(m => m.textContent)")
        raw_tex = page.evaluate(_RAW_TEX_JS, page.query_selector("#course-search-results"))
        page.click("#course-search-results li a")
        page.wait_for_url(f"**/notebooks/{target}.html*", timeout=10_000)
        landed = page.evaluate("() => [location.pathname, decodeURIComponent(location.hash)]")
        w.check_clean(start)
    finally:
        w.page.close()
    assert "in 1 notebook match" in status, status
    assert hrefs and all(f"/notebooks/{target}.html" in h for h in hrefs), (word, target, hrefs)
    assert any(m.lower() == word.lower() for m in marks), marks
    assert not raw_tex, f"search results show raw TeX: {raw_tex}"
    assert landed[0].endswith(f"/notebooks/{target}.html")


def test_search_with_no_match_says_so(site, browser):
    w = _Watch(browser)
    try:
        w.open(site / "index.html")
        w.page.fill("#course-search-input", "qwxzzy")
        w.page.wait_for_function(
            "() => document.getElementById('course-search-status').textContent.includes('Nothing')")
        assert w.page.eval_on_selector_all("#course-search-results li", "els => els.length") == 0
        w.check_clean("index")
    finally:
        w.page.close()


def _open_menu(page) -> list[str]:
    """Right-click the first equation; the items of MathJax's menu."""
    math = page.locator(".MathJax").first
    math.scroll_into_view_if_needed()
    math.click(button="right")
    page.wait_for_selector(".MathJax_Menu", state="visible", timeout=10_000)
    return page.eval_on_selector_all(".MathJax_Menu .MathJax_MenuItem", "els => els.map(e => e.textContent)")


def test_mathjax_menu_opens_offline(site, browser):
    """Right-clicking an equation opens MathJax's menu (Show Math As, Accessibility...)."""
    w = _Watch(browser)
    try:
        w.open(site / "notebooks" / f"{NOTEBOOKS[0].stem}.html")
        items = _open_menu(w.page)
        w.page.keyboard.press("Escape")
        w.check_clean("menu")
    finally:
        w.page.close()
    assert any("Show Math As" in i for i in items), items
    assert any("Accessibility" in i for i in items), items


@pytest.fixture
def served_site(site):
    """The site served over HTTP on a loopback port, as when it is published."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(site)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_mathjax_accessibility_tools_load_locally(served_site, browser):
    """Accessibility > Collapsible Math and the Explorer load MathJax's a11y extensions and the
    speech rules (mathmaps) from the site's own copy. Served over HTTP: a page opened from disk
    may not read the speech rules (Chromium refuses file:// XHR), the rest works there too."""
    w = _Watch(browser, local=served_site)
    try:
        w.open(served_site + f"notebooks/{NOTEBOOKS[0].stem}.html")
        page = w.page
        loaded = []
        page.on("requestfinished", lambda r: loaded.append(r.url))
        for path in (["Collapsible Math"], ["Explorer", "Activate"]):
            _open_menu(page)
            page.hover(".MathJax_Menu >> text=Accessibility")
            for item in path[:-1]:
                page.hover(f".MathJax_Menu >> text={item}")
            page.click(f".MathJax_Menu >> text={path[-1]}")
            page.keyboard.press("Escape")
            # Each choice re-renders the page's math: let MathJax finish (and the pointer leave
            # the math) before the next right-click, which would otherwise hit a node being replaced.
            page.mouse.move(0, 0)
            w.typeset()
        page.wait_for_function("() => window.sre && window.MathJax.Extension.Sre", timeout=30_000)
        w.typeset()
        page.wait_for_timeout(500)
        w.check_clean("a11y")
    finally:
        w.page.close()
    for script in ("collapsible.js", "explorer.js", "mathjax-sre.js", "mathmaps/en.js"):
        assert any(f"/mathjax/extensions/a11y/{script}" in u for u in loaded), (script, loaded)
