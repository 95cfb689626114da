"""pytest plugin the grader loads next to nbval: records each cell's outcome as JSON lines.

It runs in the sandboxed pytest process next to the student's kernel, so a determined
submission could tamper with these records: the grader uses them only as context for the
feedback (which of the student's own cells raised, which cells were skipped after a timeout),
never to decide a grade (see :mod:`course_tools.grading.judge`). One line is appended (and
flushed) per cell, so a run that is killed on a timeout still leaves what it had.
"""

from __future__ import annotations

import json

import pytest

GRADER_KEY = "course_lib_grader"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--grade-report", default=None, help="append per-cell results (JSONL)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    path = item.config.getoption("--grade-report")
    cell = getattr(item, "cell", None)
    if path is None or cell is None:
        return
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    error = None
    for out in getattr(item, "test_outputs", None) or []:
        if out.get("output_type") == "error":
            error = {"ename": out.get("ename", ""), "evalue": out.get("evalue", "")}
    if report.outcome == "failed" and error is None and call.excinfo is not None:
        error = {"ename": call.excinfo.typename, "evalue": str(call.excinfo.value)}
    record = {
        "cell_num": getattr(item, "cell_num", None),
        "grader_id": cell.get("metadata", {}).get(GRADER_KEY),
        "outcome": "skipped" if report.skipped else report.outcome,
        "error": error,
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def main(argv: list[str]) -> int:
    """``python course_grader_plugin.py ARGS``: ``pytest ARGS``, minus a slow import.

    nbformat validates with jsonschema, which imports ``rfc3987_syntax`` when it is installed
    (jupyterlab pulls it in); building its grammar costs seconds per run and no notebook
    schema needs it.
    """
    import sys

    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]
    return int(pytest.main(argv))


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
