"""The course readable without a kernel: the static site (``make site``) and Binder/conda.

The slow test builds the real site (every notebook executed) with the network switched off
when the machine allows it (a new network namespace with only loopback: ``unshare -rn``),
and checks every page: its figures, its demo notes, its local MathJax, no network resource.
``tests/browser/test_site_in_browser.py`` opens the pages in Chromium.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from unittest.mock import ANY

import nbformat
import pytest
import tomllib
import yaml

from course_tools import authoring, site_pages, site_search, website
from course_tools.site_launch import Launch, load_config
from tests.conftest import NOTEBOOKS, ROOT

WIDGET_VIEW = website.WIDGET_VIEW


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _resources(page: str) -> list[str]:
    """URLs the page loads by itself (scripts, stylesheets, images, frames, CSS url())."""
    found = re.findall(r"<(?:script|img|iframe|source|audio|video)\b[^>]*?\bsrc=[\"']([^\"']+)", page, re.I)
    found += re.findall(r"<link\b[^>]*?\bhref=[\"']([^\"']+)", page, re.I)
    found += re.findall(r"@import\s+(?:url\()?[\"']?([^\"')\s;]+)", page)
    found += [u for u in re.findall(r"url\(\s*[\"']?([^\"')]+)", page) if not u.startswith("data:")]
    return found


def _is_remote(url: str) -> bool:
    return bool(re.match(r"^(?:[a-z][a-z0-9+.-]*:)?//", url, re.I)) or url.startswith(("http:", "https:"))


def _offline_prefix() -> list[str]:
    """A command prefix that runs without network (only loopback), or [] where impossible."""
    if not (shutil.which("unshare") and shutil.which("ip")):
        return []
    probe = subprocess.run(["unshare", "-rn", "sh", "-c", "ip link set lo up"], capture_output=True)
    if probe.returncode != 0:
        return []
    return ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']


def _executed_demo_notebook() -> nbformat.NotebookNode:
    """A small 'executed' notebook: a live demo, a plain figure, a progress bar, an exercise."""
    nb = nbformat.v4.new_notebook()
    state = {
        "box": {"model_name": "VBoxModel",
                "state": {"children": ["IPY_MODEL_s", "IPY_MODEL_h", "IPY_MODEL_c"]}},
        "s": {"model_name": "FloatSliderModel",
              "state": {"description": "discount γ", "value": 0.9, "min": 0.5, "max": 0.995}},
        "h": {"model_name": "HTMLModel", "state": {"value": "<code>γ = 0.900: horizon 10</code>"}},
        "c": {"model_name": "MPLCanvasModel", "state": {}},
        "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_p"]}},
        "p": {"model_name": "FloatProgressModel", "state": {"value": 5}},
    }
    nb.metadata["widgets"] = {website.WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}

    def view(model_id, text, **extra):
        return nbformat.v4.new_output("display_data", data={
            WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": model_id},
            "text/plain": text, **extra})

    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 9 · A test notebook\n\nSome prose with $x^2$.\n\n"
                                      "![demo at default](../assets/welcome_discount.png)"),
        nbformat.v4.new_code_cell("demo.show()", outputs=[view("box", "VBox(children=(FloatSlider(...")]),
        nbformat.v4.new_code_cell("fig", outputs=[view("fig", "Canvas(...)", **{"image/png": png})]),
        nbformat.v4.new_code_cell("for _ in tqdm(range(5)): pass", outputs=[
            view("bar", "100%|##########| 5/5"),
            nbformat.v4.new_output("stream", name="stdout", text="done\n")]),
        nbformat.v4.new_code_cell("def f(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION",
                                  metadata={"tags": ["solution:9.1"]}),
        nbformat.v4.new_code_cell("checks.f()", metadata={"tags": ["exercise:9.1", "points:1"]},
                                  outputs=[nbformat.v4.new_output("stream", name="stdout", text="passed\n")]),
        nbformat.v4.new_markdown_cell("Secret.", metadata={"tags": [authoring.INSTRUCTOR_ONLY]}),
    ]
    return nb


# --------------------------------------------------------------------------------------------
# fast tests: the conversion
# --------------------------------------------------------------------------------------------
def test_static_notebook_turns_widgets_into_notes_and_figures_and_hides_solutions():
    nb = _executed_demo_notebook()
    assert website.live_demo_cells(nb) == [1]
    static, demos = website.static_notebook(nb)
    assert demos == 1
    assert "widgets" not in static.metadata
    outs = [c.get("outputs", []) for c in static.cells]
    note = outs[1][0]["data"]["text/html"]
    assert "discount γ" in note and "0.995" in note and "default 0.9" in note and "horizon 10" in note
    assert list(outs[2][0]["data"]) == ["image/png"]  # the figure keeps its PNG, nothing else
    assert [o["output_type"] for o in outs[3]] == ["stream"]  # the progress bar is gone
    assert "return 2 * x" not in static.cells[4].source and "NotImplementedError" in static.cells[4].source
    assert outs[5] == []  # check output removed
    assert len(static.cells) == 6  # instructor-only cell dropped
    with_solutions, _ = website.static_notebook(nb, solutions=True)
    assert "return 2 * x" in with_solutions.cells[4].source and len(with_solutions.cells) == 7


def test_page_uses_only_local_resources_and_a_local_mathjax(tmp_path):
    static, _ = website.static_notebook(_executed_demo_notebook())
    page = website.to_html(static, "A test", '<a href="../index.html">contents</a>',
                           "../mathjax/MathJax.js?config=" + website.MATHJAX_CONFIG,
                           launch=Launch().bar_html("09_test"))
    remote = [u for u in _resources(page) if _is_remote(u)]
    assert not remote, remote
    assert '<script src="../mathjax/MathJax.js?config=' in page
    assert "showMathMenu: true" in page  # MathJax's menu (Show Math As, Accessibility) is on
    assert "$x^2$" in page  # left for MathJax to typeset
    assert "course-widget-note" in page and 'src="../assets/welcome_discount.png"' in page
    assert "require.min.js" not in page and "html-manager" not in page
    assert site_pages.SIDEBAR_SLOT in page  # filled in by build() once the headings are known
    assert 'class="course-launch"' in page
    assert re.search(r'<script (?=[^>]*data-root="\.\./")[^>]*src="\.\./search/search\.js"', page)


def test_titles_and_summaries_keep_their_equations_whole():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "# 4 · **Multi-step** models: $\\hat p(s_{t+1} \\mid s_t)$ and `code_name`\n\n"
        "A one-step model $\\hat p(s_{t+1} \\mid s_t, a_t)$ rolled out, *error* $O(\\epsilon T^2)$.")])
    title = website.notebook_title(nb, "x")
    assert title == "4 · Multi-step models: $\\hat p(s_{t+1} \\mid s_t)$ and code_name"
    summary = website.notebook_summary(nb)
    assert summary == ("A one-step model $\\hat p(s_{t+1} \\mid s_t, a_t)$ rolled out, "
                       "*error* $O(\\epsilon T^2)$.")
    rendered = site_pages.markdown_html(summary)
    assert "$\\hat p(s_{t+1} \\mid s_t, a_t)$" in rendered and "<em>error</em>" in rendered


_PAGE = """<html><body><nav class="course-sidebar"><h2 id="no">Not this</h2></nav><main>
<p class="course-launch">Open in <a>Binder</a></p>
<div class="jp-Cell jp-MarkdownCell"><div class="jp-InputArea"><div class="jp-InputPrompt">In</div>
<div class="jp-RenderedMarkdown"><h1 id="Title">Title<a class="anchor-link" href="#Title">¶</a></h1>
<p>Intro with $x_1$ and <em>emphasis</em>.</p><h2 id="A">Part A<a class="anchor-link">¶</a></h2><p>alpha</p>
<h3 id="A1">Sub A1</h3><p>beta<br/>gamma</p></div></div></div>
<div class="jp-Cell jp-CodeCell"><div class="jp-InputArea"><div class="jp-InputPrompt">In [1]:</div>
<div class="jp-InputArea-editor"><div class="highlight">
<pre><span class="k">def</span> <span>solve_it</span>()</pre>
</div></div></div><div class="jp-OutputArea"><pre>printed output</pre></div></div>
<div class="jp-RenderedMarkdown"><h2 id="B">Part B</h2><h3 id="B1">Sub B1</h3><h3 id="B2">Sub B2</h3>
<h2 id="C">Part C</h2></div></main><script>var hidden = 1;</script></body></html>"""


def test_page_sections_read_headings_prose_and_code_but_not_outputs():
    secs = site_search.page_sections(_PAGE)
    assert [(s.anchor, s.heading, s.level) for s in secs] == [
        ("Title", "Title", 1), ("A", "Part A", 2), ("A1", "Sub A1", 3), ("B", "Part B", 2),
        ("B1", "Sub B1", 3), ("B2", "Sub B2", 3), ("C", "Part C", 2)]
    rec = {s.anchor: s.record() for s in secs}
    assert rec["Title"]["text"] == "Intro with $x_1$ and emphasis."
    assert rec["A1"]["text"] == "beta gamma" and rec["A1"]["code"] == "def solve_it()"
    everything = json.dumps([s.record() for s in secs])
    assert "printed output" not in everything and "In [1]" not in everything and "Binder" not in everything
    assert "Not this" not in everything and "hidden" not in everything and "¶" not in everything


def test_sidebar_lists_every_notebook_and_nests_the_current_pages_sections():
    secs = site_search.page_sections(_PAGE)
    pages = [("00_a", "0 · A"), ("01_b", "1 · B with $x_1$")]
    side = site_pages.sidebar(pages, 1, secs)
    assert '<a href="../index.html">' in side and 'id="course-search-input"' in side
    assert '<li><a href="00_a.html">0 · A</a></li>' in side
    assert '<a href="01_b.html" aria-current="page">1 · B with $x_1$</a>' in side
    assert ('<ol><li><a href="#A">Part A</a><ol><li><a href="#A1">Sub A1</a></li></ol></li>'
            '<li><a href="#B">Part B</a><ol><li><a href="#B1">Sub B1</a></li>'
            '<li><a href="#B2">Sub B2</a></li></ol></li><li><a href="#C">Part C</a></li></ol>') in side
    assert "#Title" not in side  # the page title is the notebook's own entry
    index_side = site_pages.sidebar(pages, None, in_notebooks=False)
    assert '<a href="index.html" aria-current="page">' in index_side
    assert 'href="notebooks/00_a.html"' in index_side


# --------------------------------------------------------------------------------------------
# launch links
# --------------------------------------------------------------------------------------------
def test_launch_links_open_the_handouts_notebook_on_github():
    launch = Launch(repository="https://github.com/org/handout", ref="v1")
    assert launch.links("00_welcome") == [
        ("JupyterLab", "http://localhost:8888/lab/tree/00_welcome.ipynb", ANY),
        ("Binder", "https://mybinder.org/v2/gh/org/handout/v1?urlpath=lab%2Ftree%2F00_welcome.ipynb", ANY),
        ("Colab", "https://colab.research.google.com/github/org/handout/blob/v1/00_welcome.ipynb", ANY)]
    for url in ("https://github.com/org/handout.git", "git@github.com:org/handout.git", "https://github.com/org/handout/"):
        assert Launch(repository=url, ref="v1").links("00_welcome") == launch.links("00_welcome")
    moved = launch.with_overrides(notebook_dir="course/", jupyterlab_url="http://127.0.0.1:9999/lab/tree",
                                  ref=None)
    assert [u for _, u, _ in moved.links("01_x")] == [
        "http://127.0.0.1:9999/lab/tree/course/01_x.ipynb",
        "https://mybinder.org/v2/gh/org/handout/v1?urlpath=lab%2Ftree%2Fcourse%2F01_x.ipynb",
        "https://colab.research.google.com/github/org/handout/blob/v1/course/01_x.ipynb"]
    bar = launch.bar_html("00_welcome")
    assert bar.count("<a ") == 3 and 'href="https://mybinder.org/v2/gh/org/handout/v1?urlpath=' in bar


def test_launch_links_elsewhere_than_github_have_binder_but_no_colab():
    gitlab = Launch(repository="https://gitlab.com/group/sub/handout.git")
    assert [t for t, _, _ in gitlab.links("00_w")] == ["JupyterLab", "Binder"]
    assert gitlab.binder("00_w") == "https://mybinder.org/v2/gl/group%2Fsub%2Fhandout/main?urlpath=lab%2Ftree%2F00_w.ipynb"
    other = Launch(repository="https://git.example.org/handout.git", ref="HEAD")
    assert other.binder("00_w") == ("https://mybinder.org/v2/git/https%3A%2F%2Fgit.example.org%2Fhandout.git/HEAD"
                                    "?urlpath=lab%2Ftree%2F00_w.ipynb")
    assert other.colab("00_w") is None


def test_launch_config_is_read_from_pyproject(tmp_path):
    own = load_config()  # the repository's pyproject.toml documents every key
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["course-site"]
    assert set(table) == {"repository", "ref", "notebook-dir", "jupyterlab-url"}
    assert own.repository == table["repository"] and own.notebook_dir == "" # the handout's root
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text('[tool.course-site]\nrepository = "https://github.com/a/b"\nnotebook-dir = "nb"\n')
    assert load_config(cfg) == Launch(repository="https://github.com/a/b", notebook_dir="nb")
    assert load_config(tmp_path / "missing.toml") == Launch()
    assert Launch().is_placeholder and not load_config(cfg).is_placeholder
    cfg.write_text('[tool.course-site]\nrepo = "x"\n')
    with pytest.raises(ValueError, match="unknown .* keys \\['repo'\\]"):
        load_config(cfg)


# --------------------------------------------------------------------------------------------
# the fast build: every page, its frame, the index and the search index
# --------------------------------------------------------------------------------------------
def test_fast_build_writes_every_page_index_search_mathjax_and_assets(tmp_path):
    launch = Launch(repository="https://github.com/org/handout")
    pages = website.build(tmp_path / "_site", ROOT / "notebooks", ROOT / "assets", execute=False,
                          cache=None, launch=launch, log=lambda *_: None)
    assert [p.name for p in pages] == [p.stem for p in NOTEBOOKS]
    site = tmp_path / "_site"
    assert (site / "mathjax" / "MathJax.js").is_file()
    assert (site / "mathjax" / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()
    assert (site / "mathjax" / "extensions" / "a11y" / "accessibility-menu.js").is_file()  # the menu's
    index = (site / "index.html").read_text()
    assert '<script src="mathjax/MathJax.js?config=' in index and "showMathMenu: true" in index
    assert '<script src="search/search.js" data-root="">' in index
    assert not [u for u in _resources(index) if _is_remote(u)]
    for link in re.findall(r'href="([^"#:]+)"', index):
        assert (site / link).exists(), f"index: broken link {link}"
    search = json.loads((site / "search" / "index.json").read_text())
    assert (site / "search" / "index.js").read_text().startswith("window.COURSE_SEARCH_INDEX = {")
    assert (site / "search" / "search.js").is_file()
    assert [p["url"] for p in search["pages"]] == [f"notebooks/{p.name}.html" for p in pages]
    for i, p in enumerate(pages):
        html_text = p.path.read_text()
        assert f'href="notebooks/{p.name}.html"' in index
        colab = f'href="https://colab.research.google.com/github/org/handout/blob/main/{p.name}.ipynb"'
        assert colab in index and colab in html_text  # the handout's layout: notebooks at its root
        assert site_pages.SIDEBAR_SLOT not in html_text and 'class="course-sidebar"' in html_text
        assert "showMathMenu: true" in html_text
        for link in re.findall(r'href="([^"#:]+)"', html_text):
            assert (p.path.parent / link).resolve().exists(), f"{p.name}: broken link {link}"
        sections = [s for s in search["sections"] if s["page"] == i]
        assert len(sections) >= 3 and sum(len(s["text"]) for s in sections) > 2000
        for s in sections:  # every result lands on a heading of its page
            assert not s["anchor"] or f'id="{s["anchor"]}"' in html_text, (p.name, s["anchor"])
        # the summary on the index keeps its equations whole (underscores and all) for MathJax
        source = authoring.read_notebook(ROOT / "notebooks" / f"{p.name}.ipynb")
        for eq in re.findall(r"\$[^$]+\$", website.notebook_summary(source)):
            assert html.escape(eq, quote=False) in index, f"{p.name}: {eq} not whole on the index"


# --------------------------------------------------------------------------------------------
# the real build: every notebook executed, offline
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    out, cache = tmp / "_site", tmp / "executed"
    prefix = _offline_prefix()
    cmd = [*prefix, sys.executable, "-m", "course_tools.website", "--out", str(out), "--cache", str(cache),
           "--jobs", "1"]  # one kernel at a time: the other pytest worker runs notebooks too
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, f"make site failed ({'offline' if prefix else 'online'}):\n" \
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return out, cache, bool(prefix)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_site_page_has_its_outputs_figures_and_demo_images(built_site, path):
    from course_lib.demos import static_images

    site, cache, _offline = built_site
    page_path = site / "notebooks" / f"{path.stem}.html"
    page = page_path.read_text(encoding="utf-8")

    # every image it shows is there (assets copied, figures embedded)
    for src in re.findall(r"<img\b[^>]*?\bsrc=\"([^\"]+)\"", page):
        if not src.startswith("data:"):
            target = (page_path.parent / src).resolve()
            assert target.is_file() and target.stat().st_size > 1000, f"{path.name}: missing image {src}"
    source = authoring.read_notebook(path)
    for cell in source.cells:
        if cell.cell_type == "markdown":
            for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", cell.source):
                assert f'src="{target}"' in page, f"{path.name}: image {target} not on the page"

    # nothing loaded from the network; equations typeset by the local MathJax
    remote = [u for u in _resources(page) if _is_remote(u)]
    assert not remote, f"{path.name}: network resources {remote}"
    assert (site / "mathjax" / "MathJax.js").is_file() and 'src="../mathjax/MathJax.js?' in page
    if any("$" in c.source for c in source.cells if c.cell_type == "markdown"):
        assert re.search(r"\$[^$]+\$", page), f"{path.name}: no equation left for MathJax"

    # it was executed, cleanly; every live demo became a note with its static image beside it
    executed = nbformat.read(str(cache / path.name), as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code" and c.source.strip()]
    assert all(c.execution_count is not None for c in code), f"{path.name}: not every cell ran"
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    demo_cells = website.live_demo_cells(executed)
    assert page.count('class="course-widget-note"') == len(demo_cells)
    images = set(static_images())
    for i in demo_cells:
        near = executed.cells[max(0, i - 3): i + 4]
        shown = [t for c in near if c.cell_type == "markdown"
                 for t in re.findall(r"!\[[^\]]*\]\(\.\./assets/([^)\s]+)\)", c.source) if t in images]
        assert shown, (f"{path.name}: the live demo in cell {i} has no static image of a demo "
                       f"(../assets/<name>.png from a STATIC_IMAGES table) within 3 cells")
    assert "# BEGIN SOLUTION" not in page, f"{path.name}: the site shows a solution"
    assert "Traceback" not in page


@pytest.mark.slow
def test_site_index_links_every_page(built_site):
    site, _, offline = built_site
    index = (site / "index.html").read_text()
    for path in NOTEBOOKS:
        assert f'href="notebooks/{path.stem}.html"' in index
    print(f"site built {'with the network switched off' if offline else 'with the network on'}")


# --------------------------------------------------------------------------------------------
# Binder / conda
# --------------------------------------------------------------------------------------------
def test_environment_yml_follows_repo2docker_conventions():
    """Binder builds the repo with repo2docker, which reads environment.yml at the root."""
    env_path = ROOT / "environment.yml"
    env = yaml.safe_load(env_path.read_text())
    assert isinstance(env, dict) and "prefix" not in env
    deps = env["dependencies"]
    pythons = [d for d in deps if isinstance(d, str) and re.match(r"python\s*=+\s*3\.\d+", d)]
    assert pythons, "pin python=3.X so repo2docker picks the interpreter"
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    for line in pip:
        m = re.match(r"^(?:-c|-r|-e|--constraint|--requirement|--editable)[ =]+(\S+)", line)
        if m and not _is_remote(m.group(1)):
            assert (env_path.parent / m.group(1)).exists(), f"environment.yml: no {m.group(1)}"
    names = {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in pip if not r.startswith("-")}
    assert {"jupyterlab", "ipywidgets", "ipympl"} <= names, "JupyterLab and the widget extensions"
    readme = (ROOT / "README.md").read_text()
    assert "repo2docker" in readme and "environment.yml" in readme
