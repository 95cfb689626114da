"""No answer ships to students: nothing in the handout's package passes an exercise's check.

Tried as a student would: every callable of the handout (every function, class, static and
class method, and the methods of every class that can be built without arguments, public or
private) is handed to every exercise's visible check as if the student had written
``answer = that_callable``. None may pass. The handout's package must not import the
instructor's package either.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import pkgutil
import re
import signal
import subprocess
import sys

import pytest

import course_lib
from course_lib import checks
from course_lib.checks._core import Checker
from course_tools.grading.record import GlobalRngs as _GlobalRngs
from tests.conftest import ROOT

PACKAGE = ROOT / "course_lib"
ALIAS = PACKAGE / "__main__.py"
"""The instructor's CLI alias: it exists only in the instructor's copy (the handout leaves it out)."""


def _handout_modules() -> list[str]:
    names = ["course_lib"]
    for mod in pkgutil.walk_packages(course_lib.__path__, "course_lib."):
        if mod.name != "course_lib.__main__":
            names.append(mod.name)
    return names


def _instance(cls):
    """An instance built without arguments, for dataclasses and plain classes (else None)."""
    from course_lib.widgets import LiveDemo

    if issubclass(cls, (LiveDemo, BaseException)) or cls.__module__.startswith("torch"):
        return None
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return None
    if any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
           for p in sig.parameters.values()):
        return None
    with contextlib.suppress(Exception):
        return cls()
    return None


def handout_callables() -> dict[str, object]:
    """Every callable defined in the handout's package, by qualified name."""
    found: dict[str, object] = {}
    for name in _handout_modules():
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if getattr(obj, "__module__", None) != name:
                continue
            if inspect.isfunction(obj):
                found[f"{name}.{attr}"] = obj
            elif inspect.isclass(obj):
                found[f"{name}.{attr}"] = obj
                instance = _instance(obj)
                for meth_name, meth in vars(obj).items():
                    if isinstance(meth, (staticmethod, classmethod)):
                        found[f"{name}.{attr}.{meth_name}"] = getattr(obj, meth_name)
                    elif inspect.isfunction(meth) and instance is not None:
                        found[f"{name}.{attr}().{meth_name}"] = getattr(instance, meth_name)
                    elif inspect.isfunction(meth):
                        found[f"{name}.{attr}.{meth_name}"] = meth
    return found


class _Timeout(BaseException):
    pass


def _passes(spec, candidate, seconds: int = 5) -> bool:
    def alarm(*_):
        raise _Timeout

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        with contextlib.redirect_stdout(io.StringIO()), _GlobalRngs():
            spec.body(Checker(spec.id, spec.name, candidate))
        return True
    except (Exception, _Timeout):  # noqa: BLE001 - any failure is what we want
        return False
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_the_scan_finds_the_package_and_would_catch_an_answer():
    found = handout_callables()
    assert len(found) > 150, len(found)
    from course_tools.references import get

    # the scan works: the reference itself, were it in the package, would be caught
    assert _passes(checks.EXERCISES["0.1"], get("0.1"))


@pytest.mark.parametrize("ex_id", sorted(checks.EXERCISES))
def test_no_callable_of_the_handout_passes_an_exercise(ex_id):
    spec = checks.EXERCISES[ex_id]
    passing = [name for name, fn in handout_callables().items() if _passes(spec, fn)]
    assert not passing, f"exercise {ex_id} is answered by the handout's {passing}"


def test_no_callable_is_named_like_an_exercise():
    names = {spec.name for spec in checks.EXERCISES.values()}
    clashes = [q for q in handout_callables() if q.rsplit(".", 1)[-1] in names
               and not q.startswith("course_lib.checks")]
    assert not clashes, clashes


def test_the_handout_never_imports_the_instructor_package():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path == ALIAS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.split(".")[0] == "course_tools"]
        if re.search(r"""(import_module|__import__)\(\s*f?["']course_tools""", path.read_text()):
            offenders.append(f"{path.relative_to(ROOT)}: imports it by name")
    assert not offenders, offenders
    code = ("import importlib, sys\n"
            f"for name in {_handout_modules()!r}:\n    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'course_tools'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"}, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
