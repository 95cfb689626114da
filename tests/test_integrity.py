"""Integrity flags: edited checks, instructor-only imports, answer fingerprints; never in feedback."""

from __future__ import annotations

import json

import nbformat

from course_tools import authoring
from course_tools.grading.integrity import scan
from course_tools.grading.results import SubmissionResult, feedback_markdown
from tests.conftest import ROOT

REFERENCE = authoring.read_notebook(ROOT / "notebooks" / "00_welcome.ipynb")


def _cell(nb, tag):
    return next(c for c in nb.cells if tag in c.get("metadata", {}).get("tags", []))


def _as_json(nb):
    return json.loads(nbformat.writes(nb))


def test_a_blank_student_version_raises_no_flag():
    flags = scan(REFERENCE, _as_json(authoring.make_student(REFERENCE)))
    assert flags == {"edited_checks": [], "instructor_imports": [], "answers": {}, "matches_reference": []}


def test_edits_imports_and_copied_solutions_are_flagged():
    nb = authoring.make_student(REFERENCE)
    _cell(nb, "exercise:0.1").source = "pass"
    nb.cells.remove(_cell(nb, "exercise:0.2"))
    _cell(nb, "solution:0.1").source = "# mine\ndef discounted_return(r, g):\n    return r.sum(1)\n"
    _cell(nb, "solution:0.2").source = _cell(REFERENCE, "solution:0.2").source.replace("\n", "  \n")
    nb.cells.append(nbformat.v4.new_code_cell(
        "from course_tools.references import welcome\nimport importlib\n"
        "importlib.import_module('course_grader_record')"))
    flags = scan(REFERENCE, _as_json(nb))
    assert flags["edited_checks"] == ["0.1", "0.2"]
    assert [f.split(": ")[1] for f in flags["instructor_imports"]] == ["course_grader_record",
                                                                       "course_tools.references"]
    assert flags["matches_reference"] == ["0.2"] and set(flags["answers"]) == {"0.1", "0.2"}
    other = authoring.make_student(REFERENCE)  # the same answer, other comments and spacing
    _cell(other, "solution:0.1").source = "def discounted_return(r,g):\n    return r.sum(1)  # ok\n"
    assert scan(REFERENCE, _as_json(other))["answers"]["0.1"] == flags["answers"]["0.1"]


def test_flags_never_reach_the_feedback():
    flags = {"edited_checks": ["0.1"], "instructor_imports": ["code cell 3: course_tools"]}
    r = SubmissionResult("s", "s.ipynb", "", "", "graded", integrity=flags)
    text = feedback_markdown(r)
    assert "course_tools" not in text and "edited" not in text.lower()
    assert scan(REFERENCE, {"cells": "nope"}) == {}
