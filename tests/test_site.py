"""The course readable without a kernel: the static site (``make site``) and Binder/conda.

The slow test builds the real site (every notebook executed) with the network switched off
when the machine allows it (a new network namespace with only loopback: ``unshare -rn``),
and checks every page: its figures, its demo notes, its local MathJax, no network resource.
``tests/browser/test_site_in_browser.py`` opens the pages in Chromium.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import nbformat
import pytest
import yaml

from course_tools import authoring, website
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
                           "../mathjax/MathJax.js?config=" + website.MATHJAX_CONFIG)
    remote = [u for u in _resources(page) if _is_remote(u)]
    assert not remote, remote
    assert '<script src="../mathjax/MathJax.js?config=' in page
    assert "$x^2$" in page  # left for MathJax to typeset
    assert "course-widget-note" in page and 'src="../assets/welcome_discount.png"' in page
    assert "require.min.js" not in page and "html-manager" not in page


def test_fast_build_writes_every_page_index_mathjax_and_assets(tmp_path):
    pages = website.build(tmp_path / "_site", ROOT / "notebooks", ROOT / "assets", execute=False,
                          cache=None, log=lambda *_: None)
    assert [p.name for p in pages] == [p.stem for p in NOTEBOOKS]
    site = tmp_path / "_site"
    assert (site / "mathjax" / "MathJax.js").is_file()
    assert (site / "mathjax" / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()
    index = (site / "index.html").read_text()
    for p in pages:
        assert f'href="notebooks/{p.name}.html"' in index
        for link in re.findall(r'href="([^"#:]+)"', p.path.read_text()):
            assert (p.path.parent / link).resolve().exists(), f"{p.name}: broken link {link}"


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
