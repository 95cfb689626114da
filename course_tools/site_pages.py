"""The site's HTML: a notebook page (nbconvert's ``lab`` template in the course's frame), the
index page, and the frame they share: the contents sidebar with the search box, the launch
links, and the local MathJax 2.7 (its context menu on: *Show Math As*, zoom, accessibility).

Every page loads only files of the site itself: no CDN, no require.js, no widget scripts.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence

import nbformat
from nbformat import NotebookNode

from course_tools.site_search import STATIC, Section

__all__ = ["COURSE_TITLE", "MATHJAX_CONFIG", "SIDEBAR_SLOT", "index_html", "markdown_html", "sidebar",
           "to_html"]

COURSE_TITLE = "Model-based policy learning"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
SIDEBAR_SLOT = "<!-- course-sidebar -->"
"""Where a page's sidebar goes: it lists the page's own headings, known once it is rendered."""

# MathJax 2.7 as bundled by jupyter-server-mathjax (copied to _site/mathjax/). The context menu
# (right-click an equation: Show Math As, Zoom, Accessibility) is on: its scripts, and the
# accessibility extensions with their speech rules, all come from that local copy.
_MATHJAX_CONFIG_JS = """MathJax.Hub.Config({
  tex2jax: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']],
            processEscapes: true, processEnvironments: true},
  TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
               styles: {"@font-face": {"font-family": "MathJax_Blank", src: "local('MathJax_Blank')"}}},
  // always the HTML-CSS output with the bundled STIX-Web fonts, in every browser
  MMLorHTML: {prefer: "HTML"},
  displayAlign: "center", messageStyle: "none", showMathMenu: true, showMathMenuMSIE: true
});"""

_TEMPLATE = r"""
{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
{{ resources.course_site.mathjax_config }}
</script>
<script src="{{ resources.mathjax_url }}"></script>
{%- endblock html_head_js_mathjax -%}
{%- block html_head_css -%}
<link rel="icon" href="data:,">
<style>{{ resources.course_site.css }}</style>
{%- endblock html_head_css -%}
{%- block body_header -%}
<body class="jp-Notebook course-page" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
<a class="course-skip" href="#course-main">Skip to the notebook</a>
{{ resources.course_site.sidebar }}
<main id="course-main">
{{ resources.course_site.launch }}
<p class="course-static-note">{{ resources.course_site.note }}</p>
{%- endblock body_header -%}
{%- block body_footer -%}
<nav class="course-nav" aria-label="Previous and next notebook">{{ resources.course_site.nav }}</nav>
</main>
{%- set root = resources.course_site.root %}
<script src="{{ root }}search/search.js" data-root="{{ root }}"></script>
</body>
{%- endblock body_footer -%}
"""

_STATIC_NOTE = ("This is the static version of the notebook: the outputs were computed when the "
                "site was built. Sliders need a running kernel — open the notebook in JupyterLab, "
                "Binder or Colab (the links above) to drag them; the picture beside each demo shows "
                "its default setting.")


def css() -> str:
    return (STATIC / "site.css").read_text(encoding="utf-8")


def markdown_html(text: str) -> str:
    """Markdown to HTML with its equations kept whole for MathJax (``$s_t$`` keeps ``_``)."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(text).strip()


def _plain(text: str) -> str:
    """A heading's text for a link: tags dropped; the equations stay, for MathJax."""
    return html.escape(html.unescape(re.sub(r"<[^>]+>", "", text)).strip(), quote=False)


def sidebar(pages: Sequence[tuple[str, str]], current: int | None, headings: Sequence[Section] = (),
            in_notebooks: bool = True) -> str:
    """The contents sidebar: the search box, every notebook, and the current one's sections.

    ``pages``: ``(name, title)`` of each notebook; ``in_notebooks``: the page sits in
    ``notebooks/`` (so the index is ``../index.html``), else at the site root.
    """
    up, down = ("../", "") if in_notebooks else ("", "notebooks/")
    items = []
    for i, (name, title) in enumerate(pages):
        if i != current:
            items.append(f'<li><a href="{down}{name}.html">{_plain(title)}</a></li>')
            continue
        sub, li_open, ol_open = [], False, False
        for s in headings:
            if s.level not in (2, 3) or not s.anchor:
                continue
            link = f'<a href="#{html.escape(s.anchor)}">{_plain(s.heading)}</a>'
            if s.level == 3 and li_open:  # a subsection: nested under its section
                if not ol_open:
                    sub.append("<ol>")
                    ol_open = True
                sub.append(f"<li>{link}</li>")
                continue
            if ol_open:
                sub.append("</ol>")
                ol_open = False
            if li_open:
                sub.append("</li>")
            sub.append(f"<li>{link}")
            li_open = True
        sub.append(("</ol>" if ol_open else "") + ("</li>" if li_open else ""))
        inner = f"<ol>{''.join(sub)}</ol>" if li_open else ""
        items.append(f'<li class="course-current"><a href="{down}{name}.html" aria-current="page">'
                     f'{_plain(title)}</a>{inner}</li>')
    home_current = ' aria-current="page"' if current is None else ""
    return f"""<nav class="course-sidebar" aria-label="Course contents">
<p class="course-home"><a href="{up}index.html"{home_current}>{html.escape(COURSE_TITLE)}</a></p>
<div class="course-search" role="search">
<label for="course-search-input">Search the course</label>
<input id="course-search-input" type="search" placeholder="a word, a function, an idea" autocomplete="off"
 aria-describedby="course-search-status" aria-controls="course-search-results">
<p id="course-search-status" class="course-search-status" aria-live="polite"></p>
<ol id="course-search-results" class="course-search-results"></ol>
</div>
<p class="course-sidebar-label">Notebooks</p>
<ol class="course-toc">
{chr(10).join(items)}
</ol>
</nav>"""


def _exporter(mathjax_url: str):
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"course_site.html.j2": _TEMPLATE})],
                        template_file="course_site.html.j2", mathjax_url=mathjax_url)


def to_html(nb: NotebookNode, title: str, nav: str, mathjax_url: str, launch: str = "",
            sidebar_html: str = SIDEBAR_SLOT, root: str = "../") -> str:
    """One static notebook as a standalone HTML page (local MathJax, no network resources).

    ``sidebar_html`` defaults to :data:`SIDEBAR_SLOT`, to be replaced once the page's headings
    are known; ``root`` is the way from the page to the site root (for the search scripts).
    """
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.metadata["title"] = title
    resources = {"course_site": {"css": css(), "nav": nav, "note": _STATIC_NOTE, "launch": launch,
                                 "sidebar": sidebar_html, "root": root,
                                 "mathjax_config": _MATHJAX_CONFIG_JS}}
    body, _ = _exporter(mathjax_url).from_notebook_node(nb, resources=resources)
    # links between notebooks point at their pages
    return re.sub(r'href="(?![a-z][a-z0-9+.-]*:|#|/)([^"#]+?)\.ipynb(#[^"]*)?"', r'href="\1.html\2"', body)


def nav(pages: Sequence[tuple[str, str]], i: int) -> str:
    """Links to the previous and next notebooks."""
    links = ['<a href="../index.html">Course contents</a>']
    if i > 0:
        links.append(f'<a href="{pages[i - 1][0]}.html">← {_plain(pages[i - 1][1])}</a>')
    if i + 1 < len(pages):
        links.append(f'<a href="{pages[i + 1][0]}.html">{_plain(pages[i + 1][1])} →</a>')
    return " ".join(links)


def index_html(entries: Sequence[tuple[str, str, str]], launch=None) -> str:
    """The site's front page. ``entries``: ``(name, title, summary as markdown)`` per notebook;
    ``launch``: a :class:`course_tools.site_launch.Launch` for each notebook's launch links."""
    items = []
    for name, title, summary in entries:
        links = launch.bar_html(name, "Open in") if launch is not None else ""
        items.append(f'<li><a href="notebooks/{name}.html"><strong>{_plain(title)}</strong></a>\n'
                     f'{markdown_html(summary)}\n{links}</li>')
    side = sidebar([(n, t) for n, t, _ in entries], None, in_notebooks=False)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html.escape(COURSE_TITLE)}: the course</title>
<link rel="icon" href="data:,">
<style>{css()}</style>
<script type="text/x-mathjax-config">
{_MATHJAX_CONFIG_JS}
</script>
<script src="mathjax/MathJax.js?config={MATHJAX_CONFIG}"></script>
</head>
<body class="course-index">
<a class="course-skip" href="#course-main">Skip to the contents</a>
{side}
<main id="course-main">
<h1>{html.escape(COURSE_TITLE)}: an interactive notebook course</h1>
<p>The notebooks of the course, executed and rendered as static pages: every output, equation
and figure is here, and each live demo shows a picture of its default setting. Search them with
the box on the left. To drag the sliders and solve the exercises, open a notebook in JupyterLab,
Binder or Colab with the links below (or <code>make lab</code> in a clone of the repository).</p>
<ol class="course-notebooks">
{chr(10).join(items)}
</ol>
</main>
<script src="search/search.js" data-root=""></script>
</body></html>
"""
