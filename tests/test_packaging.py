"""The setup files agree with each other and with the README."""

from __future__ import annotations

import re

import tomllib
import yaml

from tests.conftest import ROOT


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    """The instructor's conda environment: the runtime list plus the dev extra, pinned."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_reqs = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_reqs = {r for r in pip_section if not r.startswith("-")}
    assert conda_reqs == pip_reqs, (
        f"only in environment.yml: {sorted(conda_reqs - pip_reqs)}; "
        f"only in pyproject.toml: {sorted(pip_reqs - conda_reqs)}")
    assert "-c constraints.txt" in pip_section, "environment.yml must use the torch pin"


def test_torch_is_pinned_in_exactly_one_place():
    pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line.startswith("torch==")]
    assert pins == ["torch==2.13.0"]
    for f in ("pyproject.toml", "environment.yml", "Makefile"):
        assert not re.search(r"torch==\d", (ROOT / f).read_text()), f"{f} pins torch; use constraints.txt"


def test_readme_quick_start_commands_exist_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^make (\w[\w-]*)", quick, flags=re.M)
    assert commands == ["lab", "test"], commands
    makefile = (ROOT / "Makefile").read_text()
    for target in ("setup", "lab", "test", "bench", "student"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"Makefile has no {target} target"
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)


def test_student_folder_is_git_ignored():
    assert "student/" in (ROOT / ".gitignore").read_text().split()
