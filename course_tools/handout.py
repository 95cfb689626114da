"""The student handout: the one thing an instructor publishes.

``python -m course_tools student --out handout`` writes a self-contained folder::

    handout/
      README.md            how to install and work through the course (for students)
      pyproject.toml       `pip install -e .`: the package and what the notebooks need at run time
      environment.yml      conda and Binder (repo2docker) install the same
      hub/Dockerfile       a Zero-to-JupyterHub single-user image of the handout (and .dockerignore)
      00_welcome.ipynb ... the student notebooks (solutions replaced by stubs)
      assets/              the images the notebooks show
      course_lib/          the package the notebooks import, with its data, and its student-only
                           __main__.py: ``python -m course_lib lab`` opens the handout in JupyterLab

It holds no reference solution, no hidden check and no instructor tool: ``course_lib`` never
imports ``course_tools`` (a test says so), and its visible checks compare with answers shipped
as data. Publish the folder as it is: a student repository, a JupyterHub image, Binder.

A student's edited notebook is never overwritten: the new version is written beside it as
``NAME.updated.ipynb`` (see :func:`course_tools.authoring.write_student_versions`).

:class:`GradingRuntime` is the same package, copied for a grading run and put on the
sandbox's ``PYTHONPATH`` next to the grader's recording helpers.
"""

from __future__ import annotations

import atexit
import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import nbformat
import tomllib

from course_tools import authoring, site_launch

__all__ = ["ROOT", "runtime_dependencies", "copy_package", "colab_cells", "write_handout", "GradingRuntime"]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
ASSETS = ROOT / "assets"
PACKAGE = ROOT / "course_lib"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "__main__.py", ".*")
ASSET_LINK = ("](../assets/", "](assets/")
"""Instructor notebooks (in ``notebooks/``) link ``../assets/x.png``; handout notebooks sit at the
root next to ``assets/``."""


def runtime_dependencies() -> list[str]:
    """What the notebooks need at run time: ``[project].dependencies`` of the course's pyproject."""
    return list(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])


def copy_package(dest: Path) -> Path:
    """Copy the student package (``course_lib`` with its data, without the instructor CLI alias)
    to ``dest/course_lib``, replacing what was there. Returns the new package folder."""
    target = Path(dest) / "course_lib"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(PACKAGE, target, ignore=_SKIP)
    return target


STUDENT_MAIN = '''"""``python -m course_lib lab``: open this course in JupyterLab (Linux, macOS, Windows)."""

import sys

from course_lib._lab import main

if __name__ == "__main__":
    sys.exit(main())
'''
"""The handout's ``course_lib/__main__.py``: the student command only (the instructor's alias,
which imports ``course_tools``, never ships)."""


def _pyproject() -> str:
    deps = "\n".join(f'    "{d}",' for d in runtime_dependencies())
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return f'''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "course-lib"
version = "{version}"
description = "The notebooks and helper package of a course on model-based policy learning"
readme = "README.md"
requires-python = ">=3.10"
license = {{ text = "MIT" }}
# What the notebooks need at run time. torch is a range: a machine that has a torch of its own
# keeps it. On Linux without one, add PyTorch's CPU index (see README) to skip the CUDA build.
dependencies = [
{deps}
]

[tool.setuptools.packages.find]
include = ["course_lib*"]

[tool.setuptools.package-data]
course_lib = ["data/*.json", "data/*/*.json"]
'''


COLAB_TAG = "colab-install"
"""Tag of the handout's install cell (the first code cell of each student notebook)."""
COLAB_BADGE = "open-in-colab.svg"
COLAB_BADGE_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="118" height="20" role="img"
     aria-label="Open in Colab"><title>Open in Colab</title>
  <rect width="118" height="20" rx="3" fill="#444"/>
  <rect x="0" width="24" height="20" rx="3" fill="#e8710a"/>
  <circle cx="9" cy="10" r="4.2" fill="none" stroke="#fff" stroke-width="2"/>
  <circle cx="16" cy="10" r="4.2" fill="none" stroke="#ffd54f" stroke-width="2"/>
  <text x="71" y="14" fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"
        text-anchor="middle">Open in Colab</text>
</svg>
"""
# On Colab these come with the runtime: installing ours could replace Colab's own build
# (torch) or break its notebook front end (ipykernel, ipywidgets); ipympl and JupyterLab
# are not used there (live figures are redrawn as images).
_COLAB_KEEPS = {"ipympl", "jupyterlab", "ipykernel"}


def _install_cell(launch: site_launch.Launch) -> nbformat.NotebookNode:
    repo = launch.repository.removesuffix("/")
    folder = launch.notebook_dir.strip("/")
    url = f"course-lib @ git+{repo}@{launch.ref}" + (f"#subdirectory={folder}" if folder else "")
    needs = []
    for req in runtime_dependencies():
        name = re.split(r"[<>=!~ \[;]", req, maxsplit=1)[0]
        if name not in _COLAB_KEEPS:
            needs.append(f"        ({name.replace('-', '_')!r}, {req!r}),")
    needs_block = "\n".join(needs)
    source = f"""# Colab, or any Python where the course is not installed yet: this cell installs the
# course's package from its repository. What is installed already stays as it is (Colab
# keeps its own torch, IPython and widgets). Where the course is installed, it does nothing.
import importlib
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("course_lib") is None:
    COURSE = {url!r}
    NEEDS = [  # (module, requirement): installed only when the module is missing
{needs_block}
    ]
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", COURSE], check=True)
    missing = [req for module, req in NEEDS if importlib.util.find_spec(module) is None]
    if missing:
        subprocess.run([*pip, *missing], check=True)
    importlib.invalidate_caches()
    print("installed the course's package" + (f" and {{', '.join(missing)}}" if missing else ""))"""
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = [COLAB_TAG]
    cell.id = "colab-install"
    return cell


def colab_cells(name: str, launch: site_launch.Launch) -> list[nbformat.NotebookNode]:
    """What a handout notebook opens with, after its title: an "Open in Colab" badge (when the
    handout is on GitHub, the only host Colab opens) and the cell that installs the course there."""
    cells = []
    url = launch.colab(name)
    if url:
        badge = nbformat.v4.new_markdown_cell(
            f"[![Open in Colab](assets/{COLAB_BADGE})]({url}) Working in Colab? Run the next cell "
            "first: it installs the course there (elsewhere it does nothing).")
        badge.id = "colab-badge"
        cells.append(badge)
    cells.append(_install_cell(launch))
    return cells


def _environment_yml() -> str:
    deps = "\n".join(f"      - {d}" for d in runtime_dependencies())
    return f"""# conda and Binder (repo2docker): the same packages as pyproject.toml, and this course itself.
#   conda env create -f environment.yml && conda activate mbpl-course
name: mbpl-course
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
      - --extra-index-url {TORCH_CPU_INDEX}
{deps}
      - -e .
"""


TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
HUB_IMAGE = "quay.io/jupyter/minimal-notebook:python-3.11"
"""The Jupyter Docker Stacks image the hub image starts from (it runs jupyterhub-singleuser)."""


def _dockerfile() -> str:
    return f"""# A Zero-to-JupyterHub single-user image of this handout (notebooks, course_lib, images), and
# nothing else: no solutions, no hidden checks, no grader. Build it from the handout's folder:
#   docker build -f hub/Dockerfile -t REGISTRY/mbpl-course:TAG .
# then set singleuser.image in the hub's config.yaml (the course README shows the lines).
FROM {HUB_IMAGE}
COPY --chown=root:root . /srv/course
USER root
RUN chmod -R a+rX /srv/course && mkdir -p /usr/local/bin/before-notebook.d && \\
    cp /srv/course/hub/course-start.sh /usr/local/bin/before-notebook.d/10-course.sh && \\
    chmod 0755 /usr/local/bin/before-notebook.d/10-course.sh
USER ${{NB_UID}}
# the same packages as environment.yml: the handout's pyproject.toml, torch's CPU build
RUN python -m pip install --no-cache-dir --extra-index-url {TORCH_CPU_INDEX} /srv/course
ENV COURSE_DIR=/srv/course
"""


HUB_START = """#!/bin/bash
# Runs when a user's server starts (Jupyter Docker Stacks' before-notebook.d): copies the
# notebooks and images into ~/course, never overwriting a student's own copy. The package
# itself is installed in the image, so an updated image brings its new version.
mkdir -p "${HOME}/course"
cp -n /srv/course/*.ipynb "${HOME}/course/" 2>/dev/null || true
cp -rn /srv/course/assets "${HOME}/course/" 2>/dev/null || true
"""

DOCKERIGNORE = ".venv/\n**/__pycache__/\n**/.ipynb_checkpoints/\n*.egg-info/\n.git/\n"


def _readme(notebooks: list[Path]) -> str:
    rows = "\n".join(f"| `{p.name}` | {authoring.title(authoring.read_notebook(p))} |" for p in notebooks)
    return f"""# Model-based policy learning: the notebooks

Interactive notebooks for one lecture on model-based RL: MPC and backpropagating through a
learned model, policy gradients and the O(εT²) drift of long model rollouts, Dyna, MVE and
MBPO, and successor representations. Everything runs on a laptop CPU.

| Notebook | Part |
|---|---|
{rows}

## Install and open

With Python 3.10 or newer:

```bash
python -m venv .venv && source .venv/bin/activate      # Windows: .venv\\Scripts\\activate
pip install --extra-index-url https://download.pytorch.org/whl/cpu -e .
python -m course_lib lab             # opens JupyterLab here, at 00_welcome.ipynb (or: jupyter lab)
```

The extra index gives the CPU build of torch (a few hundred MB instead of several GB); leave
it out on macOS, or if you already have torch 2.2 or newer, which is kept. With conda:
`conda env create -f environment.yml && conda activate mbpl-course`. On Binder the
repository opens as it is.

**Colab.** Open a notebook with its *Open in Colab* badge and run its first code cell: it
installs the course's package (and nothing that Colab already has). Colab has no ipympl, so
the live figures are redrawn as pictures; the sliders work the same. Your work stays in
Colab: download the notebook (File > Download > .ipynb) to hand it in.

## How the exercises work

Each exercise is a function whose body says `raise NotImplementedError(...)`, placed where its
idea is taught. Replace those lines with your code, run the cell, then run the **check cell**
below it: it prints `Exercise 1.2 passed ...` or says which case failed, what it expected,
what came back, and a hint.

The cells after an exercise run *your* function: your planner drives the MPC demo, your
estimator fills the variance plot. While an exercise is unfinished, those demos show the
results of the instructor's solution instead and say, in one line, which exercise would make
them yours. So a notebook always runs top to bottom; only the check cells of unfinished
exercises fail.

Do not edit the check cells: the grader puts back the original ones, and it also tests your
functions on inputs you have not seen.

Sliders need a running kernel; every live demo also has a static picture of its default
setting. If your instructor publishes a new version of a notebook you have edited, your copy
is kept and the new one arrives beside it as `NAME.updated.ipynb`.
"""


def write_handout(out: str | Path, notebooks: str | Path = NOTEBOOKS) -> list[str]:
    """Write (or refresh) the complete handout in ``out``; returns one report line per item."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source = Path(notebooks)
    paths = sorted(source.glob("*.ipynb")) if source.is_dir() else [source]
    launch = site_launch.load_config()
    report = authoring.write_student_versions(source, out, rewrite=[ASSET_LINK],
                                              opening=lambda path: colab_cells(path.stem, launch))
    if launch.is_placeholder:
        report.append("note    the Colab badges and install cells point at the placeholder repository "
                      f"{launch.repository}: set [tool.course-site] repository in pyproject.toml")
    copy_package(out)
    (out / "course_lib" / "__main__.py").write_text(STUDENT_MAIN, encoding="utf-8")
    report.append(f"package {out / 'course_lib'}")
    assets = out / "assets"
    if assets.exists():
        shutil.rmtree(assets)
    shutil.copytree(ASSETS, assets, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (assets / COLAB_BADGE).write_text(COLAB_BADGE_SVG, encoding="utf-8")
    report.append(f"images  {assets} ({sum(1 for _ in assets.iterdir())} files)")
    (out / "hub").mkdir(exist_ok=True)
    for name, text in [("pyproject.toml", _pyproject()), ("environment.yml", _environment_yml()),
                       ("README.md", _readme(paths)), (".gitignore", ".venv/\n__pycache__/\n"
                                                      ".ipynb_checkpoints/\n*.egg-info/\n"),
                       ("hub/Dockerfile", _dockerfile()), ("hub/course-start.sh", HUB_START),
                       (".dockerignore", DOCKERIGNORE)]:
        (out / name).write_text(text, encoding="utf-8", newline="\n")
    (out / "hub" / "course-start.sh").chmod(0o755)
    report.append(f"install {out / 'pyproject.toml'}, {out / 'environment.yml'}, {out / 'README.md'}, "
                  f"{out / 'hub' / 'Dockerfile'}")
    return report


@dataclass
class GradingRuntime:
    """What a sandboxed grading run imports: the handout's package and the recording helpers.

    ``paths`` go on the sandbox's ``PYTHONPATH`` (and are exposed read-only in it): the
    recording helpers first, then the folder holding the handout's ``course_lib``.
    """

    helpers: Path
    package_parent: Path

    @property
    def plugin(self) -> Path:
        return self.helpers / "course_grader_plugin.py"

    @property
    def paths(self) -> list[str]:
        return [str(self.helpers), str(self.package_parent)]

    @classmethod
    @contextlib.contextmanager
    def build(cls, package: str | Path | None = None) -> Iterator[GradingRuntime]:
        """A runtime in a fresh temp folder; ``package`` is a folder that holds ``course_lib``
        (a published handout, say), else this course's package is copied."""
        with tempfile.TemporaryDirectory(prefix="course-grading-runtime-") as tmp:
            yield cls.make(Path(tmp), package)

    @classmethod
    def make(cls, folder: Path, package: str | Path | None = None) -> GradingRuntime:
        here = Path(__file__).resolve().parent / "grading"
        helpers = folder / "helpers"
        helpers.mkdir(parents=True)
        shutil.copyfile(here / "record.py", helpers / "course_grader_record.py")
        shutil.copyfile(here / "plugin.py", helpers / "course_grader_plugin.py")
        shutil.copyfile(here / "cases.py", helpers / "course_grader_cases.py")
        if package is None:
            copy_package(folder / "package")
            parent = folder / "package"
        else:
            parent = Path(package).resolve()
            if not (parent / "course_lib" / "__init__.py").is_file():
                raise FileNotFoundError(f"{parent} holds no course_lib package")
        for p in [folder, *folder.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        return cls(helpers, parent)

    _default: ClassVar[GradingRuntime | None] = None

    @classmethod
    def default(cls) -> GradingRuntime:
        """One runtime for this process (removed at exit), for callers that did not build one."""
        if cls._default is None:
            tmp = Path(tempfile.mkdtemp(prefix="course-grading-runtime-"))
            atexit.register(shutil.rmtree, tmp, True)
            cls._default = cls.make(tmp)
        return cls._default
