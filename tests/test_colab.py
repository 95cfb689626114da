"""Colab and other places without ipympl: the badge, the install cell, and live demos as images.

The fast tests look at the handout's notebooks and drive a live demo on the Agg backend (what
``%matplotlib inline`` uses). The slow one builds a Colab-like environment (another torch of
the supported range, no ipympl, no gymnasium, no course package), lets each notebook's install
cell install the course from the handout folder, and runs every notebook there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

from course_tools import authoring, handout, site_launch
from tests.conftest import NOTEBOOKS

GITHUB = site_launch.Launch(repository="https://github.com/example-org/mbpl-handout", ref="fall26")


def _first_code(nb):
    return next(c for c in nb.cells if c.cell_type == "code")


def test_every_handout_notebook_opens_with_a_colab_badge_and_its_install_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(site_launch, "load_config", lambda *a, **k: GITHUB)
    handout.write_handout(tmp_path)
    assert (tmp_path / "assets" / handout.COLAB_BADGE).read_text().startswith("<svg")
    for path in NOTEBOOKS:
        nb = authoring.read_notebook(tmp_path / path.name)
        badge, install = nb.cells[1], nb.cells[2]
        url = f"https://colab.research.google.com/github/example-org/mbpl-handout/blob/fall26/{path.name}"
        assert f"[![Open in Colab](assets/{handout.COLAB_BADGE})]({url})" in badge.source
        assert install is _first_code(nb) and handout.COLAB_TAG in authoring.tags(install)
        src = install.source
        assert "'course-lib @ git+https://github.com/example-org/mbpl-handout@fall26'" in src
        assert '"--no-deps", COURSE' in src  # the package alone: nothing Colab has is replaced
        for kept in ("ipympl", "jupyterlab", "ipykernel"):
            assert f"'{kept}" not in src
        compile(src, path.name, "exec")


def test_a_host_colab_cannot_open_gets_no_badge_but_the_install_cell():
    cells = handout.colab_cells("00_welcome", site_launch.Launch(repository="https://gitlab.com/a/b"))
    assert [c.cell_type for c in cells] == ["code"]
    assert "git+https://gitlab.com/a/b@main" in cells[0].source


def test_the_install_cell_does_nothing_where_the_course_is_installed(capsys):
    cell = handout.colab_cells("00_welcome", GITHUB)[-1]
    exec(compile(cell.source, "install", "exec"), {})
    assert capsys.readouterr().out == ""


def test_live_figures_picks_ipympl_where_it_can_and_images_elsewhere(monkeypatch):
    from course_lib import widgets

    monkeypatch.delenv("COURSE_LIVE_FIGURES", raising=False)
    has_ipympl = importlib.util.find_spec("ipympl") is not None
    assert widgets.live_figures() == ("ipympl" if has_ipympl else "image")
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    assert widgets.live_figures() == "image"
    monkeypatch.delitem(sys.modules, "google.colab")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "ipympl" else real(n, *a))
    assert widgets.live_figures() == "image"
    monkeypatch.setenv("COURSE_LIVE_FIGURES", "ipympl")
    assert widgets.live_figures() == "ipympl"
    with pytest.raises(ValueError, match="not 'ipympl' or 'image'"):
        widgets.live_figures("svg")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize("image", ["welcome_discount.png", "part2_compounding.png"])
def test_without_ipympl_a_slider_move_sends_a_new_picture(image):
    """On the Agg canvas (``%matplotlib inline``) the demo shows an image widget; each move
    repaints it with the animated artists at their new place, and the readout follows."""
    import ipywidgets as w
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from course_lib.demos import part2, welcome

    demo = {**welcome.STATIC_IMAGES, **part2.STATIC_IMAGES}[image]()  # the demo that image shows
    FigureCanvasAgg(demo.fig)  # what the figure gets under %matplotlib inline (whatever this process uses)
    box = demo.show()
    picture = next(c for c in box.children if isinstance(c, w.Image))
    first, readout = picture.value, demo._readout.value
    width, height = _png_size(first)
    assert (width, height) == tuple(round(x) for x in demo.fig.bbox.size)
    slider = next(iter(demo._controls.values()))
    slider.value = slider.max
    assert picture.value != first and _png_size(picture.value) == (width, height)
    assert demo._readout.value != readout
    slider.value = slider.min
    after_min = picture.value
    slider.value = slider.max
    assert picture.value != after_min
    assert "cl-demo-image" in picture._dom_classes


def _colab_like_venv(venv):
    """A venv like a Colab runtime: its own torch (another release of the supported range),
    numpy, matplotlib, ipywidgets, IPython and a kernel; no ipympl, gymnasium or course."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q", "install"]
    subprocess.run([*pip, f"torch=={OTHER_TORCH}", "numpy", "matplotlib", "ipywidgets", "ipykernel",
                    "tqdm", "nbclient", "nbformat"], check=True, timeout=1800)


OTHER_TORCH = "2.14.1"
"""A torch of the supported range (torch>=2.2) other than the 2.13.0 the course pins; this
machine has its wheel on disk. It is a CUDA build of several GB: the venv is deleted after."""

_RUN = r"""
import json, sys, nbformat, nbclient
path, cwd, course = sys.argv[1:4]
nb = nbformat.read(path, as_version=4)
for cell in nb.cells:  # install from the handout folder instead of its (unpublished) repository
    if "colab-install" in cell.metadata.get("tags", []):
        cell.source = cell.source.replace(cell.source.split("COURSE = ")[1].split("\n")[0], repr(course))
nbclient.NotebookClient(nb, timeout=900, allow_errors=True, resources={"metadata": {"path": cwd}}).execute()
bad, text = [], []
for i, cell in enumerate(nb.cells):
    tags = cell.metadata.get("tags", [])
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            text.append(o.text)
        if o.output_type == "error" and not (any(t.startswith("exercise:") for t in tags)
                                             and o.ename == "CheckFailed" and "not done yet" in o.evalue):
            bad.append((i, o.ename, o.evalue[:300]))
print(json.dumps({"bad": bad, "text": "".join(text)}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the other torch's wheel is on Linux disks")
def test_the_notebooks_run_without_ipympl_and_with_another_torch(tmp_path):
    out = tmp_path / "handout"
    handout.write_handout(out)
    venv = tmp_path / "colab"
    try:
        _colab_like_venv(venv)
        py = str(venv / "bin" / "python")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MPLBACKEND")}
        texts = []
        for nb_path in sorted(out.glob("*.ipynb")):
            course = f"course-lib @ {out.as_uri()}"
            res = subprocess.run([py, "-c", _RUN, str(nb_path), str(tmp_path), course], capture_output=True,
                                 text=True, env=env, cwd=tmp_path, timeout=1800)
            assert res.returncode == 0, res.stderr[-3000:]
            report = json.loads(res.stdout.strip().splitlines()[-1])
            assert report["bad"] == [], (nb_path.name, report["bad"])
            texts.append(report["text"])
        assert "installed the course's package and gymnasium" in texts[0]  # the first one installs
        assert all("redrawn as images" in t for t in texts)
        listed = subprocess.run([py, "-m", "pip", "list", "--format=json"], check=True,
                                capture_output=True, text=True).stdout
        versions = {p["name"].lower(): p["version"] for p in json.loads(listed)}
        assert versions["torch"].startswith(OTHER_TORCH), "the install cell replaced the runtime's torch"
        assert "ipympl" not in versions and "jupyterlab" not in versions
        assert "course-lib" in versions and "gymnasium" in versions
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # several GB
