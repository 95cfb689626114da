"""Build ``course_lib/data`` from the instructor's side: ``python -m course_tools data``.

Two kinds of data ship with the handout, both computed here from code the handout never holds:

* **answers** of the visible checks (``data/answers/<id>.json``): every check body runs with
  the exercise's reference implementation in place of the student's function; whatever the
  body asks ``ck.answer(case)`` for is computed with the reference (or its ``expected``
  function) on that case's arguments and saved. Seconds.
* **precomputed results** (``data/precomputed/<key>.json``): the instructor notebooks run top
  to bottom with ``COURSE_PRECOMPUTE_OUT`` set, so each ``precomputed.run_or_load(key, ...)``
  saves what the solution computed; the student version shows it while the exercise that
  drives that demo is unfinished. Minutes (it runs every notebook once).

``tests/test_data.py`` rebuilds the answers and compares them with the committed ones, and
checks that every key a notebook asks for is there.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import io
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from course_lib import datafiles
from course_lib.checks._core import Checker, ExerciseSpec
from course_lib.precomputed import RECORD_ENV

__all__ = ["build_answers", "build_precomputed", "precomputed_keys", "AnswerBuilder"]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
_KEY = re.compile(r"""run_or_load\(\s*["']([A-Za-z0-9_.-]+)["']""")


class AnswerBuilder(Checker):
    """A Checker whose 'student' is the reference, and whose answers are computed, not loaded."""

    def __init__(self, spec: ExerciseSpec, fn: Any, expected: Any | None = None):
        super().__init__(spec.id, spec.name, fn)
        self.expected = expected or fn
        self.args: dict[str, tuple] = {}
        self.answers: dict[str, Any] = {}

    def call(self, *args: Any, case: str, **kwargs: Any) -> Any:
        self.args[case] = copy.deepcopy((args, kwargs))
        self.answers.pop(case, None)
        return super().call(*args, case=case, **kwargs)

    def answer(self, case: str) -> Any:
        if case not in self.answers:
            if case not in self.args:
                raise KeyError(f"exercise {self.exercise_id}: answer({case!r}) asked before any "
                               "call with that case")
            args, kwargs = copy.deepcopy(self.args[case])
            self.answers[case] = self.expected(*args, **kwargs)
        return self.answers[case]


def _run_with_reference(exercise_id: str) -> AnswerBuilder:
    from course_lib import checks
    from course_tools import references
    from course_tools.grading.record import GlobalRngs

    spec = checks.EXERCISES[exercise_id]
    refs = references.load_all()
    if exercise_id not in refs:
        raise LookupError(f"exercise {exercise_id} has no reference in course_tools/references")
    ref = refs[exercise_id]
    ck = AnswerBuilder(spec, ref.fn, ref.expected)
    with GlobalRngs(), contextlib.redirect_stdout(io.StringIO()):
        spec.body(ck)  # the reference must pass its own check
    return ck


def compute_answers(exercise_id: str) -> dict[str, Any]:
    """The answers exercise ``exercise_id``'s visible check compares with, by case."""
    return _run_with_reference(exercise_id).answers


def count_cases(exercise_id: str) -> int:
    """How many cases (comparisons) the visible check makes on a right answer."""
    return _run_with_reference(exercise_id).n_cases


def build_answers(out: Path | None = None, ids: list[str] | None = None) -> list[str]:
    """Write ``answers/<id>.json`` for every exercise (or ``ids``), and every visible check's
    number of cases in ``answers/_cases.json`` (the feedback counts cases); one line each."""
    from course_lib import checks

    out = Path(out) if out is not None else datafiles.DATA / "answers"
    cases_path = out / "_cases.json"
    try:
        cases = datafiles.loads(cases_path.read_text())
    except (OSError, ValueError):
        cases = {}
    lines = []
    for ex_id in ids or sorted(checks.EXERCISES):
        try:
            ck = _run_with_reference(ex_id)
        except LookupError as err:
            lines.append(f"answers {ex_id}: SKIPPED, {err}")
            continue
        path = out / f"{ex_id}.json"
        if ck.answers:
            datafiles.save(path, ck.answers)
        elif path.exists():
            path.unlink()
        cases[ex_id] = ck.n_cases
        lines.append(f"answers {ex_id}: {len(ck.answers)} saved, {ck.n_cases} cases")
    cases = {k: cases[k] for k in sorted(cases) if k in checks.EXERCISES}
    datafiles.save(cases_path, cases)
    return lines


def build_exercise_table(out: Path | None = None) -> str:
    """Write ``course_lib/data/exercises.json``: each exercise's notebook, name, title and
    points, read from the notebooks' tags (what ``checks.status()`` shows)."""
    import json

    from course_tools import overview

    out = Path(out) if out is not None else datafiles.DATA / "exercises.json"
    out.write_text(json.dumps(overview.exercise_data(), indent=1, ensure_ascii=False) + "\n")
    return f"wrote {out.name}"


def precomputed_keys(notebook: Path) -> list[str]:
    """The keys a notebook passes to ``precomputed.run_or_load``, in order."""
    from course_tools import authoring

    nb = authoring.read_notebook(notebook)
    return [k for cell in nb.cells if cell.cell_type == "code" for k in _KEY.findall(cell.source)]


def _execute(notebook: Path, out: Path, timeout: float) -> list[str]:
    import nbclient
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    saved = os.environ.get(RECORD_ENV)
    os.environ[RECORD_ENV] = str(out)
    try:
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                         resources={"metadata": {"path": str(notebook.parent)}})
        client.execute()
    finally:
        if saved is None:
            os.environ.pop(RECORD_ENV, None)
        else:
            os.environ[RECORD_ENV] = saved
    return precomputed_keys(notebook)


def build_precomputed(notebooks: list[Path] | None = None, out: Path | None = None, jobs: int = 2,
                      timeout: float = 1200) -> list[str]:
    """Run the instructor notebooks and save every ``run_or_load`` result; one line per notebook."""
    notebooks = notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    out = Path(out) if out is not None else datafiles.DATA / "precomputed"
    lines = []
    with tempfile.TemporaryDirectory(prefix="precompute-") as tmp:
        staged = Path(tmp)
        env_before = os.environ.get("MPLBACKEND")
        os.environ["MPLBACKEND"] = "Agg"
        try:
            with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
                futures = {pool.submit(_execute, nb, staged, timeout): nb for nb in notebooks}
                for fut in concurrent.futures.as_completed(futures):
                    keys = fut.result()
                    lines.append(f"precomputed {futures[fut].name}: {', '.join(keys) or 'none'}")
        finally:
            if env_before is None:
                os.environ.pop("MPLBACKEND", None)
            else:
                os.environ["MPLBACKEND"] = env_before
        wanted = {k for nb in notebooks for k in precomputed_keys(nb)}
        missing = sorted(k for k in wanted if not (staged / f"{k}.json").exists())
        if missing:
            raise RuntimeError(f"these keys were not computed (a run_or_load never ran?): {missing}")
        out.mkdir(parents=True, exist_ok=True)
        for key in sorted(wanted):
            shutil.copyfile(staged / f"{key}.json", out / f"{key}.json")
    return sorted(lines)
