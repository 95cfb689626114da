"""The course as a static website, readable without a kernel: ``make site``.

    python -m course_tools.website --out _site          # what `make site` runs
    python -m course_tools.website --no-execute --out /tmp/site   # fast: pages without outputs
    python -m course_tools.website --repository https://github.com/OWNER/REPO   # launch links

1. **Execute** a copy of every notebook in ``notebooks/`` in a fresh kernel, in a temp folder
   (the notebooks themselves stay clean). Executed copies are cached in
   ``build/site-executed/``, keyed on the notebook and the ``course_lib`` sources and data.
2. **Convert** each one with nbconvert's ``lab`` template, made static and offline:

   * a live demo (sliders + plot) needs a kernel, so its widget output becomes a short note
     naming the sliders, their defaults and the readout at the default; the demo's static
     image (``![...](../assets/NAME.png)`` beside the widget) shows the plot;
   * a plain matplotlib figure (an ipympl canvas) shows the PNG it saved with the output;
   * progress bars and other widgets without a static form are dropped;
   * equations are typeset by a **local** MathJax 2.7 (the ``jupyter-server-mathjax``
     package, copied to ``_site/mathjax/``), its context menu on: no CDN, no require.js,
     no widget scripts;
   * the exercises read as the students' version (solutions replaced by the stub, check
     outputs removed) unless ``--solutions``.
3. **Frame** every page (:mod:`course_tools.site_pages`): a contents sidebar (every notebook,
   the current one's sections) with a search box, and links to open the notebook in
   JupyterLab, Binder or Colab (:mod:`course_tools.site_launch`: the handout's repository,
   from ``[tool.course-site]`` in ``pyproject.toml`` or ``--repository``).
4. Copy ``assets/``, write ``index.html`` (each notebook's summary, equations typeset) and the
   search index ``search/index.json`` (:mod:`course_tools.site_search`). The layout mirrors the
   repository (``_site/notebooks/NAME.html`` next to ``_site/assets/``), so the notebooks' own
   relative image links work unchanged.
"""

from __future__ import annotations

import argparse
import html
import json
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
from course_tools.site_execute import execute_all, execute_notebook
from course_tools.site_launch import Launch, load_config
from course_tools.site_pages import MATHJAX_CONFIG, SIDEBAR_SLOT, index_html, nav, sidebar, to_html
from course_tools.site_search import page_sections, write_index

__all__ = ["MATHJAX_CONFIG", "Page", "build", "execute_notebook", "live_demo_cells", "static_notebook",
           "to_html", "main"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


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


_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+?\$", flags=re.S)


def _unmark(text: str) -> str:
    """Markdown emphasis and code marks dropped, outside the equations (``$s_t$`` keeps ``_``)."""
    parts, last = [], 0
    for m in _MATH.finditer(text):
        parts += [re.sub(r"[*`]|(?<!\w)_+|_+(?!\w)", "", text[last:m.start()]), m.group(0)]
        last = m.end()
    parts.append(re.sub(r"[*`]|(?<!\w)_+|_+(?!\w)", "", text[last:]))
    return "".join(parts)


def notebook_title(nb: NotebookNode, default: str) -> str:
    """The text of the notebook's first markdown heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", _src(cell), flags=re.M)
            if m:
                return _unmark(m.group(1))
    return default


def notebook_summary(nb: NotebookNode) -> str:
    """The first paragraph of prose after the title, as markdown (the index renders it)."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for para in re.split(r"\n\s*\n", _src(cell)):
            para = para.strip()
            if para and not para.startswith(("#", "|", "!", "<", "-", "*", "1.")):
                return " ".join(para.split())
    return ""


# --------------------------------------------------------------------------------------------
# 3. the site
# --------------------------------------------------------------------------------------------
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
          cache: str | Path | None = "build/site-executed", launch: Launch | None = None,
          log=print) -> list[Page]:
    """Build the site into ``out`` (replacing it); return one :class:`Page` per notebook.

    ``launch``: where the pages' launch links point (default: ``[tool.course-site]`` of
    ``pyproject.toml``, see :mod:`course_tools.site_launch`).
    """
    out, notebooks, assets = Path(out), Path(notebooks), Path(assets)
    launch = launch if launch is not None else load_config()
    paths = sorted(notebooks.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks in {notebooks}")
    if execute:
        log(f"executing {len(paths)} notebooks ({jobs} at a time)")
        with tempfile.TemporaryDirectory(prefix="course-site-cache-") as scratch:
            cache_dir = Path(cache) if cache is not None else Path(scratch)
            executed = execute_all(paths, cache_dir, jobs, timeout, log)
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
    pages, entries, sections = [], [], []
    for i, p in enumerate(paths):
        nb, demos = statics[p]
        body = to_html(nb, titles[i][1], nav(titles, i), mathjax_url, launch=launch.bar_html(p.stem))
        secs = page_sections(body)
        body = body.replace(SIDEBAR_SLOT, sidebar(titles, i, secs), 1)
        dest = out / "notebooks" / f"{p.stem}.html"
        dest.write_text(body, encoding="utf-8")
        pages.append(Page(p.stem, titles[i][1], dest, demos, _IMG.findall(body)))
        entries.append((p.stem, titles[i][1], notebook_summary(sources[p])))
        sections.append(secs)
        log(f"  {dest}: {demos} live demos as notes, {len(pages[-1].images)} images, {len(secs)} sections")
    (out / "index.html").write_text(index_html(entries, launch), encoding="utf-8")
    write_index(out, [{"name": n, "title": t, "url": f"notebooks/{n}.html"} for n, t in titles], sections)
    if launch.is_placeholder:
        log(f"warning: the launch links point at the placeholder repository {launch.repository}: set "
            "[tool.course-site] repository in pyproject.toml, or pass --repository URL (the handout's)")
    return pages


def main(argv: list[str] | None = None) -> int:
    defaults = load_config()
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
    launch = parser.add_argument_group(
        "launch links", "where each page's JupyterLab, Binder and Colab links point: the repository "
        "of the student handout (defaults from [tool.course-site] in pyproject.toml)")
    launch.add_argument("--repository", help=f"its URL (default {defaults.repository})")
    launch.add_argument("--ref", help=f"the branch or tag to open (default {defaults.ref})")
    launch.add_argument("--notebook-dir", help="the notebooks' folder in that repository "
                                               f"(default {defaults.notebook_dir!r}: the handout's root)")
    launch.add_argument("--jupyterlab-url",
                        help=f"a local JupyterLab's tree URL (default {defaults.jupyterlab_url})")
    args = parser.parse_args(argv)
    links = defaults.with_overrides(repository=args.repository, ref=args.ref, notebook_dir=args.notebook_dir,
                                    jupyterlab_url=args.jupyterlab_url)
    t0 = time.perf_counter()
    pages = build(args.out, args.notebooks, args.assets, execute=args.execute, solutions=args.solutions,
                  jobs=args.jobs, timeout=args.timeout, cache=args.cache or None, launch=links)
    print(f"built {len(pages)} pages in {time.perf_counter() - t0:.0f} s: "
          f"open {Path(args.out) / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
