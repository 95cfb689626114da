"""Reviewable sources of the instructor notebooks: a jupytext percent script beside each one.

``notebooks/NN_name.ipynb`` is what JupyterLab opens and every tool reads; ``notebooks/NN_name.py``
is the same notebook as a plain Python script (``# %%`` cells, markdown as comments, cell tags
kept), so a change to a notebook reviews like a change to code. The pair must stay in step:
``tests/test_sources.py`` fails when they differ.

    python -m course_tools sources            # write every .py from its .ipynb
    python -m course_tools sources --check    # say which pairs differ (exit 1 if any)
    python -m course_tools sources --from-scripts   # rebuild each .ipynb from an edited .py

Rebuilding a notebook from its script keeps the notebook's metadata and the ids of cells whose
source did not change, and stores it without outputs.
"""

from __future__ import annotations

import copy
import uuid
from pathlib import Path

import nbformat

__all__ = ["to_script", "from_script", "write_scripts", "stale", "normalise", "LANGUAGE_INFO",
           "NOTEBOOKS"]

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
_JUPYTEXT = {"notebook_metadata_filter": "-all", "cell_metadata_filter": "tags,-all"}


KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                 "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                 "pygments_lexer": "ipython3"}
"""What ipykernel reports (plus ``version``): JupyterLab writes it into a notebook as soon as
the kernel connects, and marks the notebook modified when it was not already there."""


def normalise(nb: nbformat.NotebookNode) -> bool:
    """Store ``nb`` as JupyterLab would after opening it, so that opening it does not mark it
    modified: the kernelspec, and the kernel's full ``language_info`` with this interpreter's
    version (the handout stamps the student's own when it is written). True if it changed."""
    import platform

    want = {**LANGUAGE_INFO, "version": platform.python_version()}
    changed = nb.metadata.get("kernelspec") != KERNELSPEC or nb.metadata.get("language_info") != want
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = want
    return changed


def to_script(nb: nbformat.NotebookNode) -> str:
    """The notebook as a percent script (no header, only cell tags as metadata)."""
    import jupytext

    nb = copy.deepcopy(nb)
    nb.metadata["jupytext"] = dict(_JUPYTEXT)
    return jupytext.writes(nb, fmt="py:percent")


def from_script(text: str, like: nbformat.NotebookNode | None = None) -> nbformat.NotebookNode:
    """A notebook from a percent script; metadata and unchanged cells' ids come from ``like``."""
    import jupytext

    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata = copy.deepcopy(like.metadata) if like is not None else nb.metadata
    nb.metadata.pop("jupytext", None)
    old = {(c.cell_type, c.source): c.get("id") for c in (like.cells if like is not None else [])}
    for cell in nb.cells:
        cell["id"] = old.get((cell.cell_type, cell.source)) or uuid.uuid4().hex[:8]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def _pairs(folder: Path) -> list[tuple[Path, Path]]:
    return [(p, p.with_suffix(".py")) for p in sorted(Path(folder).glob("*.ipynb"))]


def write_scripts(folder: Path = NOTEBOOKS) -> list[str]:
    """Write each notebook's script (and store the notebook normalised, see :func:`normalise`);
    returns the scripts that changed."""
    changed = []
    for nb_path, py_path in _pairs(folder):
        nb = nbformat.read(str(nb_path), as_version=4)
        if normalise(nb):
            nbformat.write(nb, str(nb_path))
        text = to_script(nb)
        if not py_path.exists() or py_path.read_text(encoding="utf-8") != text:
            py_path.write_text(text, encoding="utf-8")
            changed.append(py_path.name)
    return changed


def stale(folder: Path = NOTEBOOKS) -> list[str]:
    """Notebooks whose script is missing or differs."""
    return [nb_path.name for nb_path, py_path in _pairs(folder)
            if not py_path.exists() or py_path.read_text(encoding="utf-8")
            != to_script(nbformat.read(str(nb_path), as_version=4))]


def update_notebooks(folder: Path = NOTEBOOKS) -> list[str]:
    """Rebuild each notebook from its script where they differ; returns the notebooks written."""
    written = []
    for nb_path, py_path in _pairs(folder):
        if not py_path.exists():
            continue
        old = nbformat.read(str(nb_path), as_version=4)
        text = py_path.read_text(encoding="utf-8")
        if to_script(old) != text:
            nbformat.write(from_script(text, old), str(nb_path))
            written.append(nb_path.name)
    return written
