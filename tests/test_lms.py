"""Roster, Canvas, late work, overrides, the class gradebook and the report (fast: no notebook runs).

Grades are made up (``ResultStore.save`` of synthetic results), then the LMS side works on them
as on a real grades folder. Canvas's import format is checked against the header rules of
Canvas's gradebook importer (as documented in canvas-lms ``gradebook_importer.rb``).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest

from course_tools.__main__ import main
from course_tools.grading.results import ExerciseResult, ResultStore, SubmissionResult
from course_tools.lms import canvas, policy, report
from course_tools.lms.book import class_book
from course_tools.lms.roster import Roster, RosterError

IDS = ["1.1", "1.2"]


def _result(student, p11, p12, status="graded", failed=(), integrity=None, partial=False):
    def ex(i, p, m):
        check = {"check": "c", "kind": "visible", "passed": p == m, "message": "m",
                 "status": "passed" if p == m else "failed", "cases_passed": int(4 * p / m),
                 "cases_total": 4, "failed_cases": list(failed)}
        hidden = {**check, "check": f"unseen_{i}", "kind": "hidden", "failed_cases": []}
        return ExerciseResult(i, p, m, "m", [check, hidden], partial=partial,
                              per_case=m / 8 if partial else 0)

    return SubmissionResult(student, f"{student}.ipynb", student, "ref", status,
                            message="took too long" if status == "timeout" else "",
                            exercises={"1.1": ex("1.1", p11, 2.0), "1.2": ex("1.2", p12, 3.0)},
                            integrity=integrity or {}, graded_at="2025-01-01T00:00:00",
                            cell_errors=["your code cell 4: timed out after 60 s"] * (status == "timeout"))


ROSTER = """id,name,canvas_id,sis_user_id,sis_login_id,section,email,aliases
alice,"Doe, Alice",101,S1,adoe,Sec A,alice@uni.edu,
bob,"Roe, Bob",102,S2,broe,Sec B,bob@uni.edu,bobby_r
dave,"Poe, Dave",104,S4,dpoe,Sec A,dave@uni.edu,
"""


@pytest.fixture
def folder(tmp_path):
    out = tmp_path / "grades"
    store = ResultStore(out)
    store.save(_result("alice", 2.0, 3.0, integrity={"answers": {"1.2": {"sha": "x", "tokens": 40}}}))
    store.save(_result("bob", 1.0, 2.0, failed=["case B"], partial=True,
                       integrity={"answers": {"1.2": {"sha": "x", "tokens": 40}}, "edited_checks": ["1.1"],
                                  "instructor_imports": ["code cell 2: course_tools.references"]}))
    store.save(_result("carol", 2.0, 0.0, status="timeout"))
    (tmp_path / "roster.csv").write_text(ROSTER)
    return out, tmp_path / "roster.csv"


def test_a_roster_in_our_format_or_canvas_export_format(tmp_path):
    roster = Roster.load(_write(tmp_path / "r.csv", ROSTER))
    assert list(roster.students) == ["alice", "bob", "dave"] and roster.by_canvas_id("102").id == "bob"
    export = ("\ufeffStudent;ID;SIS User ID;SIS Login ID;Section;Part 1 (9)\n"
              "    Points Possible;;;;;5\nDoe, Alice;101;S1;adoe;Sec A;4\n")
    canvas_roster = Roster.load(_write(tmp_path / "c.csv", export))
    assert list(canvas_roster.students) == ["adoe"] and canvas_roster.students["adoe"].canvas_id == "101"
    with pytest.raises(RosterError, match="listed twice"):
        Roster.load(_write(tmp_path / "d.csv", "id\nx\nx\n"))
    with pytest.raises(RosterError, match="letters, digits"):
        Roster.load(_write(tmp_path / "e.csv", "id\nno spaces\n"))


def test_lms_file_names_map_to_students(tmp_path):
    roster = Roster.load(_write(tmp_path / "r.csv", ROSTER))
    assert roster.match("alice.ipynb").id == "alice"
    assert roster.match("roebob_102_5551_part1.ipynb").id == "bob"            # Canvas user id
    assert roster.match("Bob Roe_bobby_r_assignsubmission_file_nb.ipynb").id == "bob"  # an alias
    assert roster.match("dave@uni.edu.ipynb").id == "dave"
    assert roster.match("alice_and_bob.ipynb") is None                          # ambiguous
    assert roster.match("someone_else.ipynb") is None


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name, expected", [
    ("doealice_101_9001_01_mpc.ipynb", ("doealice", False, "101", 9001, "01_mpc.ipynb")),
    ("roebob_late_102_9002_01_mpc-1.ipynb", ("roebob", True, "102", 9002, "01_mpc.ipynb")),
    ("roebob_LATE_102_9002_my_nb.ipynb", ("roebob", True, "102", 9002, "my_nb.ipynb")),
    ("o_brien_103_9003_x.ipynb", ("o_brien", False, "103", 9003, "x.ipynb")),
])
def test_canvas_submission_names_are_parsed(name, expected):
    f = canvas.parse_name(name)
    assert (f.name, f.late, f.user_id, f.file_id, f.original) == expected
    assert canvas.parse_name("README.txt") is None


def test_a_canvas_zip_collects_into_student_ids(tmp_path):
    roster = Roster.load(_write(tmp_path / "r.csv", ROSTER))
    zpath = tmp_path / "submissions.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("doealice_101_9001_01_mpc.ipynb", "{alice}")
        zf.writestr("roebob_late_102_9002_scratch.ipynb", "{bob scratch}")
        zf.writestr("roebob_late_102_9001_01_mpc.ipynb", "{bob}")
        zf.writestr("roebob_late_102_9003_report.pdf", "%PDF")
        zf.writestr("stranger_999_9004_01_mpc.ipynb", "{stranger}")
        zf.writestr("notes.txt", "hello")
    done = canvas.collect(zpath, tmp_path / "subs", roster, expected="01_mpc.ipynb")
    files = {p.name: p.read_text() for p in (tmp_path / "subs").glob("*.ipynb")}
    assert files == {"alice.ipynb": "{alice}", "bob.ipynb": "{bob}", "canvas-999.ipynb": "{stranger}"}
    assert done.not_in_roster == ["canvas-999"] and done.no_submission == ["dave"]
    assert len(done.skipped) == 3 and any("scratch" in s for s in done.skipped)
    times = {r["student"]: r["late"] for r in csv.DictReader((tmp_path / "subs" / "submitted.csv").open())}
    assert times == {"alice": "no", "bob": "yes", "canvas-999": "no"}


def _rows(path):
    return {r["student"]: r for r in csv.DictReader(path.open(encoding="utf-8-sig"))}


def test_roster_late_work_and_overrides_survive_a_regrade(folder, capsys):
    out, roster = folder
    _write(out / "times.csv",
           "student,submitted_at\nalice,2025-03-01T10:00:00Z\nbob,2025-03-03T01:00:00-08:00\n")
    assert main(["gradebook", "--out", str(out), "--roster", str(roster),
                 "--due", "2025-03-01T23:59:00-08:00", "--penalty-per-day", "0.1", "--max-days", "3",
                 "--times", str(out / "times.csv"), "--bom"]) == 0
    said = capsys.readouterr().out
    assert "not in the roster (kept): carol" in said and "bob (2 d)" in said
    _write(out / policy.OVERRIDES, "student,override,extra_days,comment\nalice,4.5,,regraded by hand\n")
    ResultStore(out).write_index(IDS)
    raw = (out / "gradebook.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")                                       # Excel reads UTF-8 right
    rows = _rows(out / "gradebook.csv")
    assert set(rows) == {"alice", "bob", "carol", "dave"}
    dave = rows["dave"]
    assert (dave["status"], dave["final"], dave["in roster"]) == ("missing", "0", "yes")
    assert rows["carol"]["in roster"] == "no" and rows["alice"]["final"] == "4.5"
    bob = rows["bob"]
    assert (bob["late days"], bob["late penalty"], bob["final"]) == ("2", "0.6", "2.4")
    assert rows["bob"]["cases 1.1"] == "4 of 8" and not re.search(r"\d+/\d+", raw.decode("utf-8-sig"))
    ResultStore(out).save(_result("bob", 2.0, 2.0, partial=True))               # a regrade of bob
    ResultStore(out).write_index(IDS)
    rows = _rows(out / "gradebook.csv")
    assert (rows["bob"]["total"], rows["bob"]["final"], rows["alice"]["override"]) == ("4", "3.2", "4.5")
    _write(out / policy.OVERRIDES, "student,override,extra_days\nbob,,2\n")   # an extension
    assert class_book(out, ResultStore(out).load_all(), IDS).final["bob"] == 4.0


def test_late_policy_days_and_penalty():
    late = policy.LatePolicy("2025-03-01T23:59:00+00:00", penalty_per_day=0.25, free_days=1, max_days=2,
                             grace_minutes=5)
    t = policy.parse_time
    assert late.days_late(t("2025-03-02T00:03:00Z")) == 0                       # within the grace
    assert late.days_late(t("2025-03-02T00:10:00Z")) == 1 and late.days_late(None, flagged=True) == 1
    assert late.penalty(8.0, 1) == 0 and late.penalty(8.0, 2) == 2.0 and late.penalty(8.0, 4) == 8.0
    assert late.penalty(8.0, 4, extra_days=2) == 2.0


def _canvas_accepts(header: list[str]) -> bool:
    """Canvas's importer: Student and ID first, optional SIS User ID + SIS Login ID (or SIS Login
    ID alone), optional Integration ID and Root Account, then Section closes the student columns."""
    if not (len(header) > 3 and "Student" in header[0] and "ID" in header[1]):
        return False
    n = 3
    if re.search(r"SIS\s+Login\s+ID", header[2]):
        n += 1
    elif re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3]):
        n += 2 + (1 if re.search(r"Integration\s+ID", header[4]) else 0)
    return "Section" in header[n - 1]


def test_the_canvas_export_imports_cleanly(folder, tmp_path, capsys):
    out, roster = folder
    main(["gradebook", "--out", str(out), "--roster", str(roster)])
    target = tmp_path / "canvas.csv"
    assert main(["canvas", "export", "--roster", str(roster), "--assignment", "Part 1 (777)=" + str(out),
                 "--out", str(target), "--points-possible"]) == 0
    assert "not in the roster" in capsys.readouterr().out
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Part 1 (777)"]
    assert _canvas_accepts(rows[0]) and not _canvas_accepts(["Student", "ID", "SIS User ID", "Section", "x"])
    assert rows[1][0] == "Points Possible" and rows[1][5] == "5"
    by_id = {r[1]: r for r in rows[2:]}
    assert by_id["101"] == ["Doe, Alice", "101", "S1", "adoe", "Sec A", "5"]
    assert by_id["104"][5] == "0"                                                # no submission: 0
    assert any(r[0] == "carol" for r in rows[2:])                                 # listed, never dropped
    assert all(re.fullmatch(r"\d+(\.\d+)?", r[5]) for r in rows[1:])


def test_the_report_lists_rates_cases_timeouts_and_integrity(folder):
    out, _ = folder
    text = report.render(report.build(out))
    assert "3 students (2 graded, 1 timeout)" in text
    assert "visible check: passed 1/2 (50%)" in text and "failed by 1 (50%): case B" in text
    assert "carol: took too long" in text and "your code cell 4: timed out" in text
    assert "identical answers to exercise 1.2: alice, bob" in text
    assert "edited or deleted check cells: bob (exercises 1.1)" in text
    assert "course_tools.references" in text
