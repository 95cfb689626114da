"""``checks.status()``: which exercises of this notebook pass now, with their points.

It runs the visible checks only (the ones in the notebook), quietly, on the functions the
notebook's cells have defined, and prints one line per exercise. The exercises' notebooks,
titles and points come from ``course_lib/data/exercises.json``, written from the notebooks'
tags by ``python -m course_tools data``.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

from course_lib import datafiles
from course_lib.checks._core import EXERCISES, CheckFailed, _user_namespace

__all__ = ["status", "exercise_table"]


def exercise_table() -> dict[str, dict[str, Any]]:
    """Exercise id -> notebook, name, title, points (from ``data/exercises.json``)."""
    return json.loads((datafiles.DATA / "exercises.json").read_text(encoding="utf-8"))


def _which_notebook(table: dict[str, dict[str, Any]], ns: dict[str, Any]) -> str | None:
    """The notebook whose exercise functions this kernel defines (the most of them)."""
    counts: dict[str, int] = {}
    for info in table.values():
        counts.setdefault(info["notebook"], 0)
        if info["name"] in ns:
            counts[info["notebook"]] += 1
    best = max(counts.items(), key=lambda kv: kv[1], default=(None, 0))
    return best[0] if best[1] > 0 else None


def _run(ex_id: str, fn: Any) -> tuple[bool, str]:
    """Run the visible check of ``ex_id`` on ``fn`` quietly: (passed, what to say)."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            EXERCISES[ex_id].check(fn)
    except CheckFailed as err:
        text = str(err)
        if "NotImplementedError" in text:
            return False, "not done yet"
        case = text.splitlines()[0].split("case: ", 1)
        return False, f"fails on: {case[1]}" if len(case) > 1 else "fails"
    except Exception as err:  # a check should not crash, but the status line must not either
        return False, f"the check crashed: {type(err).__name__}: {err}"
    return True, "passes"


def status(notebook: str | None = None) -> None:
    """Print which exercises pass now (visible checks only), with their points.

    ``notebook`` (e.g. ``"01"`` or ``"01_mpc_and_backprop.ipynb"``) picks the notebook; by
    default it is the one whose exercise functions the running notebook defines.
    """
    table = exercise_table()
    ns = _user_namespace()
    if notebook is None:
        notebook = _which_notebook(table, ns)
        if notebook is None:
            print("No exercise function is defined yet: run the notebook's cells first "
                  "(Run > Run All Cells), then `checks.status()` again.")
            return
    rows = [(ex_id, info) for ex_id, info in table.items()
            if info["notebook"] == notebook or info["notebook"].startswith(str(notebook))]
    if not rows:
        print(f"No exercises found for notebook {notebook!r}.")
        return
    width = max(len(info["name"]) for _, info in rows)
    lines, earned, total = [], 0.0, 0.0
    for ex_id, info in rows:
        points = float(info["points"])
        total += points
        fn = ns.get(info["name"])
        if fn is None:
            ok, say = False, "not run yet: run its cell"
        else:
            ok, say = _run(ex_id, fn)
        earned += points if ok else 0.0
        mark = "✓" if ok else "✗"
        pts = f"{points:g} of {points:g}" if ok else f"0 of {points:g}"
        lines.append(f"  {mark} {ex_id:<5} {info['name']:<{width}}  {pts:>10} points  {say}")
    print(f"{rows[0][1]['notebook']}: {earned:g} of {total:g} points pass the visible checks")
    print("\n".join(lines))
    print("(The grader also runs hidden checks on cases you have not seen.)")
