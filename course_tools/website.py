"""The course as a static website, readable without a kernel: ``make site``.

    python -m course_tools.website --out _site          # what `make site` runs
    python -m course_tools.website --no-execute --out /tmp/site   # fast: pages without outputs

1. **Execute** a copy of every notebook in ``notebooks/`` in a fresh kernel, in a temp folder
   (the notebooks themselves stay clean). Executed copies are cached in
   ``build/site-executed/``, keyed on the notebook and the ``course_lib`` sources.
2. **Convert** each one with nbconvert's ``lab`` template, made static and offline:

   * a live demo (sliders + plot) needs a kernel, so its widget output becomes a short note
     naming the sliders, their defaults and the readout at the default; the demo's static
     image (``![...](../assets/NAME.png)`` beside the widget) shows the plot;
   * a plain matplotlib figure (an ipympl canvas) shows the PNG it saved with the output;
   * progress bars and other widgets without a static form are dropped;
   * equations are typeset by a **local** MathJax 2.7 (the ``jupyter-server-mathjax``
     package, copied to ``_site/mathjax/``): no CDN, no require.js, no widget scripts;
   * the exercises read as the students' version (solutions replaced by the stub, check
     outputs removed) unless ``--solutions``.
3. Copy ``assets/`` and write ``index.html``. The layout mirrors the repository
   (``_site/notebooks/NAME.html`` next to ``_site/assets/``), so the notebooks' own relative
   image links work unchanged.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import html
import json
import multiprocessing
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from course_tools import authoring

__all__ = ["Page", "build", "execute_notebook", "live_demo_cells", "static_notebook", "to_html", "main"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"

_TEMPLATE = r"""
{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
  tex2jax: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
            processEscapes: true, processEnvironments: true},
  TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
               styles: {"@font-face": {"font-family": "MathJax_Blank", src: "local('MathJax_Blank')"}}},
  // always the HTML-CSS output with the bundled STIX-Web fonts, in every browser
  MMLorHTML: {prefer: "HTML"},
  displayAlign: "center", messageStyle: "none", showMathMenu: false
});
</script>
<script src="{{ resources.mathjax_url }}"></script>
{%- endblock html_head_js_mathjax -%}
{%- block html_head_css -%}
<style>{{ resources.course_site.css }}</style>
{%- endblock html_head_css -%}
{%- block body_header -%}
{{ super() }}
<nav class="course-nav">{{ resources.course_site.nav }}</nav>
<p class="course-static-note">{{ resources.course_site.note }}</p>
{%- endblock body_header -%}
{%- block body_footer -%}
<nav class="course-nav">{{ resources.course_site.nav }}</nav>
{{ super() }}
{%- endblock body_footer -%}
"""

_CSS = """
.course-nav, .course-static-note { margin: 0.8em 0 0.8em calc(var(--jp-cell-prompt-width, 64px) + 20px);
  font-family: var(--jp-content-font-family); font-size: var(--jp-content-font-size1, 14px); }
.course-nav a { margin-right: 1.5em; }
.course-static-note, .course-widget-note { border-left: 4px solid #1976d2; background: #f3f7fc;
  padding: 0.5em 1em; font-family: var(--jp-content-font-family); }
.course-widget-note code { white-space: pre-wrap; }
body.course-index { max-width: 52em; margin: 2em auto; padding: 0 1em; line-height: 1.5;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body.course-index li { margin-bottom: 0.8em; }
"""

_STATIC_NOTE = ("This is the static version of the notebook: the outputs were computed when the "
                "site was built. Sliders need a running kernel — open the notebook in JupyterLab "
                "(<code>make lab</code>) to drag them; the picture beside each demo shows its "
                "default setting.")


@dataclass
class Page:
    """One built page and what it shows."""

    name: str
    """Notebook stem (``00_welcome``)."""
    title: str
    """The notebook's first heading."""
    path: Path
    """The HTML file."""
    widgets: int = 0
    """Live demos replaced by a note."""
    images: list[str] = field(default_factory=list)
    """``src`` of every ``<img>`` on the page (relative to the page)."""


# --------------------------------------------------------------------------------------------
# 1. execute
# --------------------------------------------------------------------------------------------
def _source_key(nb_path: Path) -> str:
    """Hash of the notebook and of every course_lib source file: when to re-execute."""
    h = hashlib.sha256(nb_path.read_bytes())
    pkg = Path(__file__).resolve().parent
    for f in sorted(pkg.rglob("*.py")):
        h.update(str(f.relative_to(pkg)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def execute_notebook(src: str | Path, dest: str | Path, timeout: int = 600) -> Path:
    """Run a copy of ``src`` top to bottom in a fresh kernel (cwd: a temp folder); write ``dest``.

    Raises nbclient's ``CellExecutionError`` (naming the cell) if any cell fails.
    """
    import nbclient

    src, dest = Path(src), Path(dest)
    nb = nbformat.read(str(src), as_version=4)
    with tempfile.TemporaryDirectory(prefix="course-site-") as cwd:
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                         resources={"metadata": {"path": cwd}})
        client.execute()
    nb.metadata.setdefault("course_site", {})["key"] = _source_key(src)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    nbformat.write(nb, str(tmp))
    tmp.replace(dest)
    return dest


def _execute_all(paths: list[Path], cache: Path, jobs: int, timeout: int, log) -> dict[Path, Path]:
    done, todo = {}, []
    for p in paths:
        dest = cache / p.name
        if dest.exists():
            try:
                cached = nbformat.read(str(dest), as_version=4).metadata.get("course_site", {})
            except Exception:  # noqa: BLE001 - a broken cache entry is re-executed
                cached = {}
            if cached.get("key") == _source_key(p):
                log(f"  {p.name}: up to date in {dest.parent}")
                done[p] = dest
                continue
        todo.append(p)
    if todo:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads
        with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx) as pool:
            t0 = time.perf_counter()
            futures = {pool.submit(execute_notebook, p, cache / p.name, timeout): p for p in todo}
            for fut in concurrent.futures.as_completed(futures):
                p = futures[fut]
                done[p] = fut.result()
                log(f"  {p.name}: executed ({time.perf_counter() - t0:.0f} s since start)")
    return done


# --------------------------------------------------------------------------------------------
# 2. make the executed notebook static
# --------------------------------------------------------------------------------------------
def _widget_models(nb: NotebookNode) -> dict:
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _children(models: dict, model_id: str) -> list[dict]:
    """Every model below ``model_id`` (depth first), from the saved widget state."""
    found, stack = [], [model_id]
    while stack:
        m = models.get(stack.pop())
        if m is None:
            continue
        found.append(m)
        kids = m.get("state", {}).get("children", [])
        stack.extend(k.replace("IPY_MODEL_", "") for k in reversed(kids) if isinstance(k, str))
    return found


def _src(cell: NotebookNode) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def _strip_tags(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text or "")).strip()


def _demo_note(models: list[dict]) -> str:
    """The note that stands in for a live demo: its sliders, defaults and default readout."""
    sliders, readout = [], ""
    for m in models:
        name, st = m.get("model_name", ""), m.get("state", {})
        if name.endswith("SliderModel"):
            value = st.get("value")
            if name == "FloatLogSliderModel":
                base = st.get("base", 10)
                lo, hi = base ** st.get("min", 0), base ** st.get("max", 0)
            else:
                lo, hi = st.get("min"), st.get("max")
            sliders.append(f"<b>{html.escape(str(st.get('description') or 'slider'))}</b> "
                           f"from {lo:g} to {hi:g} (default {value:g})")
        elif name == "HTMLModel" and not readout:
            readout = _strip_tags(st.get("value", ""))
    parts = ["<b>Live demo</b> (needs a running kernel)."]
    if sliders:
        parts.append("Sliders: " + "; ".join(sliders) + ".")
    if readout:
        parts.append(f"At the default setting: <code>{html.escape(readout)}</code>")
    parts.append("The picture beside this demo shows its default setting.")
    return f'<div class="course-widget-note">{" ".join(parts)}</div>'


def _is_live_demo(models: list[dict], text: str) -> bool:
    if models:
        return any(m.get("model_name", "").endswith("SliderModel") for m in models)
    return "Slider(" in text


def live_demo_cells(nb: NotebookNode) -> list[int]:
    """Indices of the code cells of an executed notebook that display a live demo (sliders)."""
    models = _widget_models(nb)
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data and "image/png" not in data and _is_live_demo(
                    _children(models, data[WIDGET_VIEW].get("model_id", "")), data.get("text/plain", "")):
                found.append(i)
                break
    return found


def static_notebook(nb: NotebookNode, solutions: bool = False) -> tuple[NotebookNode, int]:
    """A copy of an executed notebook with no widget left; returns it and the demo count."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    models = _widget_models(nb)
    demos = 0
    cells = []
    for cell in nb.cells:
        if not solutions and authoring.INSTRUCTOR_ONLY in authoring.tags(cell):
            continue
        if cell.cell_type == "code":
            sid = authoring.tag_value(cell, "solution")
            if not solutions and sid is not None:
                cell.source = authoring.strip_solutions(_src(cell), sid)
            if not solutions and authoring.tag_value(cell, "exercise") is not None:
                cell.outputs = []
            outputs = []
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if WIDGET_VIEW not in data:
                    outputs.append(out)
                    continue
                if "image/png" in data:  # an ipympl figure saves a PNG of itself: show that
                    out.data = {"image/png": data["image/png"]}
                    outputs.append(out)
                    continue
                tree = _children(models, data[WIDGET_VIEW].get("model_id", ""))
                if _is_live_demo(tree, data.get("text/plain", "")):
                    demos += 1
                    outputs.append(nbformat.v4.new_output(
                        "display_data", data={"text/html": _demo_note(tree)}))
                # anything else (progress bars...) has no static form: drop it
            if "outputs" in cell:
                cell.outputs = outputs
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("widgets", None)
    return nb, demos


def notebook_title(nb: NotebookNode, default: str) -> str:
    """The text of the notebook's first markdown heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", _src(cell), flags=re.M)
            if m:
                return re.sub(r"[*_`]", "", m.group(1))
    return default


def notebook_summary(nb: NotebookNode) -> str:
    """The first paragraph of prose after the title (markdown stripped), for the index."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for para in re.split(r"\n\s*\n", _src(cell)):
            para = para.strip()
            if para and not para.startswith(("#", "|", "!", "<", "-", "*", "1.")):
                return re.sub(r"[*_`]", "", " ".join(para.split()))
    return ""


# --------------------------------------------------------------------------------------------
# 3. HTML
# --------------------------------------------------------------------------------------------
def _exporter(mathjax_url: str):
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"course_site.html.j2": _TEMPLATE})],
                        template_file="course_site.html.j2", mathjax_url=mathjax_url)


def to_html(nb: NotebookNode, title: str, nav: str, mathjax_url: str) -> str:
    """One static notebook as a standalone HTML page (local MathJax, no network resources)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.metadata["title"] = title
    resources = {"course_site": {"css": _CSS, "nav": nav, "note": _STATIC_NOTE}}
    body, _ = _exporter(mathjax_url).from_notebook_node(nb, resources=resources)
    # links between notebooks point at their pages
    return re.sub(r'href="(?![a-z][a-z0-9+.-]*:|#|/)([^"#]+?)\.ipynb(#[^"]*)?"', r'href="\1.html\2"', body)


def _nav(pages: list[tuple[str, str]], i: int) -> str:
    links = ['<a href="../index.html">Course contents</a>']
    if i > 0:
        links.append(f'<a href="{pages[i - 1][0]}.html">← {html.escape(pages[i - 1][1])}</a>')
    if i + 1 < len(pages):
        links.append(f'<a href="{pages[i + 1][0]}.html">{html.escape(pages[i + 1][1])} →</a>')
    return " ".join(links)


def _index(entries: list[tuple[str, str, str]]) -> str:
    items = "\n".join(
        f'<li><a href="notebooks/{name}.html">{html.escape(title)}</a><br>{html.escape(summary)}</li>'
        for name, title, summary in entries)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Model-based policy learning: the course</title><style>{_CSS}</style></head>
<body class="course-index">
<h1>Model-based policy learning: an interactive notebook course</h1>
<p>The notebooks of the course, executed and rendered as static pages: every output, equation
and figure is here, and each live demo shows a picture of its default setting. To drag the
sliders and solve the exercises, run the notebooks in JupyterLab (<code>make lab</code> in a
clone of the repository; see its README).</p>
<ol>
{items}
</ol>
</body></html>
"""


def _mathjax_dir() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError as err:  # pragma: no cover - in the dev extra
        raise RuntimeError("building the site needs jupyter-server-mathjax (a local MathJax): "
                           "run `make setup`, or pip install -e '.[dev]'") from err
    return Path(jupyter_server_mathjax.__file__).resolve().parent / "static"


_IMG = re.compile(r"<img\b[^>]*?\bsrc=\"([^\"]+)\"", flags=re.I)


def build(out: str | Path = "_site", notebooks: str | Path = "notebooks", assets: str | Path = "assets",
          execute: bool = True, solutions: bool = False, jobs: int = 2, timeout: int = 600,
          cache: str | Path | None = "build/site-executed", log=print) -> list[Page]:
    """Build the site into ``out`` (replacing it); return one :class:`Page` per notebook."""
    out, notebooks, assets = Path(out), Path(notebooks), Path(assets)
    paths = sorted(notebooks.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks in {notebooks}")
    if execute:
        log(f"executing {len(paths)} notebooks ({jobs} at a time)")
        with tempfile.TemporaryDirectory(prefix="course-site-cache-") as scratch:
            cache_dir = Path(cache) if cache is not None else Path(scratch)
            executed = _execute_all(paths, cache_dir, jobs, timeout, log)
            sources = {p: nbformat.read(str(executed[p]), as_version=4) for p in paths}
    else:
        sources = {p: authoring.read_notebook(p) for p in paths}

    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    if assets.is_dir():
        shutil.copytree(assets, out / "assets", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copytree(_mathjax_dir(), out / "mathjax")
    mathjax_url = f"../mathjax/MathJax.js?config={MATHJAX_CONFIG}"

    statics = {p: static_notebook(sources[p], solutions=solutions) for p in paths}
    titles = [(p.stem, notebook_title(sources[p], p.stem)) for p in paths]
    pages, entries = [], []
    for i, p in enumerate(paths):
        nb, demos = statics[p]
        body = to_html(nb, titles[i][1], _nav(titles, i), mathjax_url)
        dest = out / "notebooks" / f"{p.stem}.html"
        dest.write_text(body, encoding="utf-8")
        pages.append(Page(p.stem, titles[i][1], dest, demos, _IMG.findall(body)))
        entries.append((p.stem, titles[i][1], notebook_summary(sources[p])))
        log(f"  {dest}: {demos} live demos as notes, {len(pages[-1].images)} images")
    (out / "index.html").write_text(_index(entries), encoding="utf-8")
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.website", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="_site", help="output folder (replaced; default _site)")
    parser.add_argument("--notebooks", default="notebooks", help="folder of notebooks")
    parser.add_argument("--assets", default="assets", help="folder of images the notebooks show")
    parser.add_argument("--no-execute", dest="execute", action="store_false",
                        help="convert the stored (output-free) notebooks: fast, for checking the layout")
    parser.add_argument("--solutions", action="store_true", help="keep the exercise solutions")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at a time")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    parser.add_argument("--cache", default="build/site-executed",
                        help="where executed copies are kept between builds ('' for none)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    pages = build(args.out, args.notebooks, args.assets, execute=args.execute, solutions=args.solutions,
                  jobs=args.jobs, timeout=args.timeout, cache=args.cache or None)
    print(f"built {len(pages)} pages in {time.perf_counter() - t0:.0f} s: "
          f"open {Path(args.out) / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
