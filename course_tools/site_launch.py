"""The site's "open this notebook in JupyterLab / Binder / Colab" links.

Their targets come from the repository where the **student handout** is published (a student
repository made from ``python -m course_tools student --out handout``), never this instructor
repository: its notebooks hold the solutions. The default is read from ``pyproject.toml``::

    [tool.course-site]
    repository = "https://github.com/OWNER/REPO"   # where the handout is published
    ref = "main"                                    # branch (or tag) the links open
    notebook-dir = ""                               # the notebooks' folder there ("" = root)
    jupyterlab-url = "http://localhost:8888/lab/tree/"  # a local JupyterLab serving the handout

and ``python -m course_tools.website --repository URL --ref REF --notebook-dir DIR
--jupyterlab-url URL`` overrides any of them. In the handout the notebooks sit at the root
(``00_welcome.ipynb``), which is what ``notebook-dir = ""`` means.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from dataclasses import dataclass, fields, replace
from pathlib import Path

import tomllib

__all__ = ["PLACEHOLDER", "Launch", "load_config"]

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
PLACEHOLDER = "https://github.com/OWNER/REPO"
"""The repository until an instructor names the real one (the build warns about it)."""


@dataclass(frozen=True)
class Launch:
    """Where the launch links of a page point."""

    repository: str = PLACEHOLDER
    ref: str = "main"
    notebook_dir: str = ""
    jupyterlab_url: str = "http://localhost:8888/lab/tree/"

    # ---------------------------------------------------------------------------------------
    def with_overrides(self, **values) -> Launch:
        """A copy with every value that is not ``None`` replaced."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    @property
    def is_placeholder(self) -> bool:
        return "OWNER/REPO" in self.repository

    def notebook_path(self, name: str) -> str:
        """``00_welcome`` -> its path in the handout repository (``00_welcome.ipynb``)."""
        folder = self.notebook_dir.strip("/")
        return f"{folder}/{name}.ipynb" if folder else f"{name}.ipynb"

    def _github(self) -> tuple[str, str] | None:
        m = re.match(r"^(?:https?://|git@)github\.com[/:]([^/\s]+)/([^/\s]+?)(?:\.git)?/?$", self.repository)
        return (m.group(1), m.group(2)) if m else None

    def _gitlab(self) -> str | None:
        m = re.match(r"^https?://gitlab\.com/(.+?)(?:\.git)?/?$", self.repository)
        return m.group(1) if m else None

    def jupyterlab(self, name: str) -> str:
        return self.jupyterlab_url.rstrip("/") + "/" + urllib.parse.quote(self.notebook_path(name))

    def binder(self, name: str) -> str:
        ref = urllib.parse.quote(self.ref, safe="")
        urlpath = "?urlpath=" + urllib.parse.quote("lab/tree/" + self.notebook_path(name), safe="")
        if gh := self._github():
            return f"https://mybinder.org/v2/gh/{gh[0]}/{gh[1]}/{ref}{urlpath}"
        if gl := self._gitlab():
            return f"https://mybinder.org/v2/gl/{urllib.parse.quote(gl, safe='')}/{ref}{urlpath}"
        return f"https://mybinder.org/v2/git/{urllib.parse.quote(self.repository, safe='')}/{ref}{urlpath}"

    def colab(self, name: str) -> str | None:
        """Colab opens notebooks from GitHub only: ``None`` for another host."""
        gh = self._github()
        if gh is None:
            return None
        path = urllib.parse.quote(f"{self.ref}/{self.notebook_path(name)}")
        return f"https://colab.research.google.com/github/{gh[0]}/{gh[1]}/blob/{path}"

    def links(self, name: str) -> list[tuple[str, str, str]]:
        """``(label, url, tooltip)`` for each place the notebook ``name`` can be opened."""
        found = [
            ("JupyterLab", self.jupyterlab(name),
             "your own JupyterLab, started in the handout's folder (jupyter lab, or make lab)"),
            ("Binder", self.binder(name), "a temporary JupyterLab in the cloud, with the course installed; "
                                          "the sliders work (the first start takes a few minutes)"),
        ]
        colab = self.colab(name)
        if colab:
            found.append(("Colab", colab, "Google Colab: the notebook's first code cell installs the "
                                          "course there; the live figures redraw as images"))
        return found

    def bar_html(self, name: str, label: str = "Open this notebook in") -> str:
        """The launch bar of one page."""
        links = " ".join(
            f'<a class="course-launch-{text.lower()}" href="{html.escape(url)}" title="{html.escape(tip)}" '
            f'target="_blank" rel="noopener">{text}</a>'
            for text, url, tip in self.links(name))
        return f'<p class="course-launch"><span>{html.escape(label)}</span> {links}</p>'


def load_config(pyproject: str | Path | None = PYPROJECT) -> Launch:
    """The ``[tool.course-site]`` table of ``pyproject.toml`` (the defaults where it is missing)."""
    table: dict = {}
    path = Path(pyproject) if pyproject else None
    if path is not None and path.is_file():
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("course-site", {})
    known = {f.name for f in fields(Launch)}
    values = {k.replace("-", "_"): v for k, v in table.items()}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{path}: unknown [tool.course-site] keys {unknown}; known: "
                         f"{sorted(k.replace('_', '-') for k in known)}")
    return Launch(**{k: str(v) for k, v in values.items()})
