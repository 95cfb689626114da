"""The student handout is complete, self-contained, and holds nothing of the instructor's.

The fast tests build it in a temp folder and look at what is there. The slow one creates a
fresh virtual environment from exactly what the handout's install files say (the pip list of
``environment.yml``, which Binder's repo2docker installs; the hub image's ``hub/Dockerfile``
installs the same packages), with torch from the local CPU wheel when there is one (nothing
multi-GB is downloaded), checks that no grader or development tool came with it, and runs every
student notebook there: only the check cells of unfinished exercises may fail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from course_tools import authoring, handout
from tests.conftest import NOTEBOOKS, ROOT

DEV_TOOLS = {"pytest", "nbval", "playwright", "ruff", "jupytext", "pytest-xdist", "stable-baselines3"}
"""Never installed with the handout (psutil and nbclient are: ipykernel and jupyterlab need them)."""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("handout") / "handout"
    lines = handout.write_handout(out)
    return out, lines


def test_the_handout_holds_notebooks_package_data_images_and_install_files(built):
    out, _ = built
    names = {p.name for p in out.iterdir()}
    assert {"README.md", "pyproject.toml", "environment.yml", "course_lib", "assets", "hub",
            ".dockerignore"} <= names
    assert sorted(p.name for p in out.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    assert (out / "course_lib" / "__init__.py").is_file()
    assert (out / "course_lib" / "data" / "answers").is_dir()
    # the student's `python -m course_lib lab`, never the instructor's alias
    assert (out / "course_lib" / "__main__.py").read_text() == handout.STUDENT_MAIN
    assert "binder" not in names and "Dockerfile" not in names  # repo2docker reads the root environment.yml
    assert not list(out.rglob("__pycache__"))


def test_nothing_of_the_instructor_is_in_the_handout(built):
    out, _ = built
    assert not (out / "course_tools").exists() and not (out / "notebooks").exists()
    for path in out.rglob("*"):
        if path.suffix in (".py", ".ipynb", ".toml", ".yml", ".md"):
            text = path.read_text(encoding="utf-8")
            assert "BEGIN SOLUTION" not in text, path
            if path.suffix == ".py":
                assert not re.search(r"^\s*(from|import) course_tools", text, re.M), path
    for nb_path in out.glob("*.ipynb"):
        nb = authoring.read_notebook(nb_path)
        assert nb.metadata["course_lib"]["version"] == "student"
        for cell in nb.cells:
            if authoring.tag_value(cell, "solution"):
                assert "raise NotImplementedError" in cell.source


def test_every_image_a_handout_notebook_shows_is_in_the_handout(built):
    out, _ = built
    for nb_path in out.glob("*.ipynb"):
        for cell in authoring.read_notebook(nb_path).cells:
            if cell.cell_type == "markdown":
                for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", cell.source):
                    assert not target.startswith(".."), (nb_path.name, target)
                    assert (out / target).is_file(), (nb_path.name, target)


def test_the_handout_installs_only_what_the_notebooks_need(built):
    out, _ = built
    project = tomllib.loads((out / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"]
    assert deps == handout.runtime_dependencies()
    names = {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() for d in deps}
    assert names == {"numpy", "torch", "gymnasium", "matplotlib", "ipywidgets", "ipympl",
                     "jupyterlab", "ipykernel", "tqdm"}
    assert "torch>=2.2" in deps and not any(d.startswith("torch==") for d in deps)
    assert "optional-dependencies" not in project
    env = (out / "environment.yml").read_text()
    assert "constraints" not in env and all(d in env for d in deps)


def test_a_students_edits_survive_a_new_handout(built, tmp_path):
    out = tmp_path / "handout"
    handout.write_handout(out)
    mine = out / "00_welcome.ipynb"
    nb = authoring.read_notebook(mine)
    nb.cells[0].source += "\n\nmy notes"
    mine.write_text(json.dumps(nb))
    lines = handout.write_handout(out)
    assert any("kept" in line for line in lines)
    assert "my notes" in mine.read_text()


def _environment_pip(handout_dir: Path) -> list[str]:
    """The pip lines of the handout's environment.yml (what conda and repo2docker install)."""
    lines = (handout_dir / "environment.yml").read_text().splitlines()
    start = lines.index("  - pip:")
    return [line.split("- ", 1)[1] for line in lines[start + 1:] if line.startswith("      - ")]


def _dockerfile_pip(handout_dir: Path) -> list[str]:
    """The arguments of the hub image's `pip install` (the handout copied to /srv/course)."""
    run = next(line for line in (handout_dir / "hub" / "Dockerfile").read_text().splitlines()
               if line.startswith("RUN python -m pip install"))
    return [a for a in run.split()[5:] if a != "--no-cache-dir"]


def test_binder_and_the_hub_image_install_the_same_packages_from_the_handout_only(built):
    out, _ = built
    env = _environment_pip(out)
    assert env[0] == "--extra-index-url https://download.pytorch.org/whl/cpu" and env[-1] == "-e ."
    assert env[1:-1] == handout.runtime_dependencies()
    cpu = "https://download.pytorch.org/whl/cpu"
    assert _dockerfile_pip(out) == ["--extra-index-url", cpu, "/srv/course"]
    docker = (out / "hub" / "Dockerfile").read_text()
    assert "COPY --chown=root:root . /srv/course" in docker and "FROM quay.io/jupyter/" in docker
    assert ".venv/" in (out / ".dockerignore").read_text()
    assert os.access(out / "hub" / "course-start.sh", os.X_OK)
    assert "cp -n" in (out / "hub" / "course-start.sh").read_text()  # never overwrites a student's copy


def _pip_install_handout(venv: Path, handout_dir: Path) -> None:
    """A fresh venv from exactly the pip list of the handout's environment.yml (its PyTorch index
    line aside: torch is installed first from the machine's own wheel, so nothing is downloaded
    from PyTorch's index, which CI machines may not reach)."""
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(py), "-m", "pip", "--disable-pip-version-check", "-q", "install"]
    torch_pin = next(line for line in (ROOT / "constraints.txt").read_text().splitlines()
                     if line.startswith("torch=="))
    # the machine's own torch first (as a student with torch already installed); no download
    subprocess.run([*pip, "--no-deps", "--no-index", torch_pin], check=False)
    args = []
    for line in _environment_pip(handout_dir):  # "-e ." is the handout itself, as for conda
        if line == "-e .":
            args += ["-e", str(handout_dir)]
        elif not line.startswith("--extra-index-url"):  # where torch comes from: it is already here
            args.append(line)
    subprocess.run([*pip, *args], check=True, timeout=1800)


@pytest.mark.slow
def test_the_handout_installs_in_a_fresh_venv_and_its_notebooks_run_there(built, tmp_path):
    out, _ = built
    venv = tmp_path / "venv"
    _pip_install_handout(venv, out)
    py = venv / "bin" / "python"
    listed = subprocess.run([str(py), "-m", "pip", "list", "--format=json"], check=True,
                            capture_output=True, text=True).stdout
    installed = {p["name"].lower() for p in json.loads(listed)}
    assert not (installed & DEV_TOOLS), sorted(installed & DEV_TOOLS)
    assert {"torch", "jupyterlab", "ipympl", "course-lib"} <= installed
    lab = subprocess.run([str(py), "-m", "course_lib", "lab", "--dry-run"], cwd=tmp_path,
                         capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert lab.returncode == 0 and f"--ServerApp.root_dir={out.resolve()}" in lab.stdout, lab.stderr
    code = r"""
import json, sys, nbformat, nbclient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
nbclient.NotebookClient(nb, timeout=900, allow_errors=True,
                        resources={"metadata": {"path": sys.argv[2]}}).execute()
bad = []
for i, cell in enumerate(nb.cells):
    errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
    tags = cell.metadata.get("tags", [])
    is_check = any(t.startswith("exercise:") for t in tags)
    for e in errors:
        if not (is_check and e.ename == "CheckFailed" and "not done yet" in e.evalue):
            bad.append((i, e.ename, e.evalue[:300]))
print(json.dumps(bad))
"""
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)
    for nb_path in sorted(out.glob("*.ipynb")):
        res = subprocess.run([str(py), "-c", code, str(nb_path), str(tmp_path)], capture_output=True,
                             text=True, env=env, cwd=tmp_path, timeout=1800)
        assert res.returncode == 0, res.stderr[-3000:]
        assert json.loads(res.stdout.strip().splitlines()[-1]) == [], (nb_path.name, res.stdout[-3000:])
