"""A Gradescope autograder for one part: ``python -m course_tools gradescope --reference NB --out ZIP``.

The zip holds, at its root (Gradescope unpacks it into ``/autograder/source``)::

    setup.sh            run once when Gradescope builds the image: a venv with requirements.txt
    run_autograder      run for each submission: grades /autograder/submission/*.ipynb
    requirements.txt    torch pinned as in constraints.txt (CPU build), the run-time packages, the grader's
    constraints.txt     the exact versions this course is tested with (used on Python 3.11)
    pyproject.toml      installs course_lib and course_tools (editable: nothing is copied elsewhere)
    autograder.json     the part's settings: reference, timeouts, the run's secret seed, partial credit
    reference/NB.ipynb  the instructor notebook (solutions: this zip is for instructors only)
    course_lib/         the handout's package, with its data
    course_tools/       the grader, references and this part's hidden checks

Each submission is graded in its own container by :mod:`course_tools.lms.gradescope_run` with
the same sandbox and judge as ``python -m course_tools grade``: Gradescope's containers are how
grading scales past one machine.
"""

from __future__ import annotations

import io
import json
import secrets
import shutil
import tempfile
import zipfile
from pathlib import Path

import tomllib

from course_tools import authoring, handout
from course_tools.grading.hidden import DEFAULT_DIR, load_hidden
from course_tools.grading.scoring import resolve_partial

__all__ = ["build", "requirements", "SETUP_SH", "RUN_AUTOGRADER"]

TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
SETTINGS = "autograder.json"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu).
set -euo pipefail
cd "$(dirname "$0")"
VENV="${AUTOGRADER_VENV:-/autograder/venv}"
if command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
fi
PY="$(command -v python3.11 || command -v python3)"
"$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip
# the exact versions of constraints.txt where they exist (Python 3.11), else the ranges
if "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  "${PIP[@]}" install -c constraints.txt -r requirements.txt
else
  "${PIP[@]}" install -r requirements.txt
fi
"${PIP[@]}" install --no-deps --config-settings editable_mode=compat -e .
"$VENV/bin/python" -m course_tools.lms.gradescope_run --check
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission, in a fresh container. It always writes
# $ROOT/results/results.json. AUTOGRADER_ROOT (default /autograder) and AUTOGRADER_PYTHON let a
# test run it against a folder laid out like Gradescope's.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${AUTOGRADER_PYTHON:-${AUTOGRADER_VENV:-/autograder/venv}/bin/python}"
cd "$ROOT/source" || exit 1
exec "$PY" -m course_tools.lms.gradescope_run --root "$ROOT"
"""


def _torch_pin() -> str:
    return next(line.strip() for line in (handout.ROOT / "constraints.txt").read_text().splitlines()
                if line.startswith("torch=="))


def requirements() -> str:
    """requirements.txt: PyTorch's CPU index, torch pinned, the run-time and the grader's packages."""
    project = tomllib.loads((handout.ROOT / "pyproject.toml").read_text())["project"]
    deps = [d for d in handout.runtime_dependencies() if not d.startswith("torch")]
    grader = [d for d in project["optional-dependencies"]["grader"] if d not in deps]
    lines = [f"--extra-index-url {TORCH_CPU_INDEX}", _torch_pin(), *deps, *grader]
    return "# the Gradescope autograder's packages (written by python -m course_tools gradescope)\n" \
        + "\n".join(lines) + "\n"


def _pyproject() -> str:
    version = tomllib.loads((handout.ROOT / "pyproject.toml").read_text())["project"]["version"]
    return f'''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "course-autograder"
version = "{version}"
requires-python = ">=3.10"

[tool.setuptools.packages.find]
include = ["course_lib*", "course_tools*"]

[tool.setuptools.package-data]
course_lib = ["data/*.json", "data/*/*.json"]
'''


def _hidden_modules(hidden_dir: Path, exercise_ids: set[str]) -> list[Path]:
    """The hidden-check modules that register checks for these exercises."""
    found = load_hidden(hidden_dir)
    stems = {spec.body.__module__.removeprefix("_course_hidden_") for ex in exercise_ids
             for spec in found.get(ex, [])}
    return sorted(hidden_dir / f"{stem}.py" for stem in stems)


def _add_tree(zf: zipfile.ZipFile, folder: Path, prefix: str, skip=lambda p: False) -> None:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_dir() or "__pycache__" in rel.parts or path.suffix == ".pyc" or skip(rel):
            continue
        _add(zf, f"{prefix}/{rel.as_posix()}", path.read_bytes())


def _add(zf: zipfile.ZipFile, name: str, data: bytes | str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    zf.writestr(info, data.encode() if isinstance(data, str) else data)


def build(reference: str | Path, out: str | Path, *, partial: str | list[str] | None = None,
          cell_timeout: float = 60, notebook_timeout: float = 600, seed: int | None = None,
          require_isolation: bool = False, hidden_dir: str | Path | None = None,
          memory_mb: int = 4096) -> list[str]:
    """Write the autograder zip for ``reference`` to ``out``; returns report lines."""
    reference, out = Path(reference), Path(out)
    hidden_dir = Path(hidden_dir) if hidden_dir else DEFAULT_DIR
    exercises = authoring.exercises(authoring.read_notebook(reference))
    per_case = resolve_partial(exercises, partial)
    settings = {"reference": f"reference/{reference.name}", "seed": seed if seed is not None
                else secrets.randbelow(2**31), "cell_timeout": cell_timeout,
                "notebook_timeout": notebook_timeout, "partial": sorted(per_case),
                "require_isolation": require_isolation, "memory_mb": memory_mb,
                "exercises": {i: ex.points for i, ex in exercises.items()}}
    hidden = _hidden_modules(hidden_dir, set(exercises)) if hidden_dir.is_dir() else []
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, tempfile.TemporaryDirectory() as tmp:
        _add(zf, "setup.sh", SETUP_SH, executable=True)
        _add(zf, "run_autograder", RUN_AUTOGRADER, executable=True)
        _add(zf, "requirements.txt", requirements())
        _add(zf, "constraints.txt", (handout.ROOT / "constraints.txt").read_bytes())
        _add(zf, "pyproject.toml", _pyproject())
        _add(zf, SETTINGS, json.dumps(settings, indent=1) + "\n")
        _add(zf, settings["reference"], reference.read_bytes())
        _add_tree(zf, handout.copy_package(Path(tmp)), "course_lib")
        tools = Path(__file__).resolve().parents[1]
        _add_tree(zf, tools, "course_tools", skip=lambda rel: rel.parts[0] == "hidden")
        for path in hidden:
            _add(zf, f"course_tools/hidden/{path.name}", path.read_bytes())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(out.name + ".part")
    tmp_out.write_bytes(buf.getvalue())
    shutil.move(tmp_out, out)
    scheme = ", ".join(sorted(per_case)) or "none (all or nothing)"
    return [f"wrote {out} ({out.stat().st_size / 2**20:.1f} MB): {reference.name}, "
            f"{len(exercises)} exercises, {sum(e.points for e in exercises.values()):g} points, "
            f"hidden checks from {', '.join(p.name for p in hidden) or 'none'}",
            f"partial credit: {scheme}; timeouts {cell_timeout:g} s per cell, "
            f"{notebook_timeout:g} s per notebook",
            "upload it as the assignment's autograder (Gradescope: Configure Autograder > Zip file upload); "
            "keep it private: it holds the solutions and the run's secret seed"]
