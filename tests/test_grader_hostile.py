"""The hostile corpus (tests/hostile/attacks.py) graded in one run with honest submissions.

Each attack must earn nothing for what it broke or forged, every honest submission in the same
run must be graded exactly, the host must be untouched (course files, other submissions, the
output folder, the host's /tmp and loopback), no sandboxed process may survive the run, and the
gradebook must hold one correct row per submission.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import socket
import threading

import nbformat
import psutil
import pytest

from course_tools import authoring, grading
from course_tools.grading import sandbox
from tests.conftest import ROOT
from tests.hostile import attacks

REFERENCE = ROOT / "notebooks" / "00_welcome.ipynb"
pytestmark = pytest.mark.slow
needs_sandbox = pytest.mark.skipif(sandbox.probe().mode != "root",
                                   reason=f"full sandbox unavailable: {sandbox.probe().reason}")


def _slim(nb):
    """The reference without its demos: setup cell, answer cells, check cells (faster runs)."""
    first = next(c for c in nb.cells if c.cell_type == "code")
    nb.cells = [c for c in nb.cells if c is first or authoring.tag_value(c, "solution")
                or authoring.tag_value(c, "exercise")]
    return nb


def _slim_reference(folder):
    """The slimmed welcome notebook, written to ``folder/ref/slim.ipynb``: (notebook, path)."""
    reference = _slim(authoring.read_notebook(REFERENCE))
    ref_path = folder / "ref" / "slim.ipynb"
    ref_path.parent.mkdir()
    nbformat.write(reference, str(ref_path))
    return reference, ref_path


def _hash(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _tree_hash() -> str:
    """One hash of every file of the course the grader could be tricked into changing."""
    h = hashlib.sha256()
    for top in ("course_lib", "course_tools", "notebooks", "assets"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                h.update(str(path).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    ref_path = tmp / "reference" / "welcome_slim.ipynb"
    ref_path.parent.mkdir()
    reference = _slim(authoring.read_notebook(REFERENCE))
    nbformat.write(reference, str(ref_path))

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connections.append(listener.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    subs, out = tmp / "subs", tmp / "out"
    targets = attacks.Targets(
        course_file=str(ROOT / "course_lib" / "checks" / "welcome.py"),
        instructor_notebook=str(REFERENCE), reference=str(ref_path),
        hidden_checks=str(grading.default_hidden_dir() / "welcome.py"),
        other_submission=str(subs / "honest_full.ipynb"), out_dir=str(out),
        host_marker=str(tmp_path_factory.getbasetemp() / "hostile_marker"),
        port=listener.getsockname()[1])
    expected = attacks.build(subs, reference, targets)
    twins = tmp / "subs_b"  # the same id in two folders: both are errors, never an overwrite
    twins.mkdir()
    for folder in (subs, twins):
        (folder / "twin.ipynb").write_text(json.dumps(reference))
    protected = [targets.course_file, targets.instructor_notebook, targets.reference,
                 targets.hidden_checks, targets.other_submission]
    before = {p: _hash(p) for p in protected}
    before_tree = _tree_hash()
    uids: list[int] = []
    make_uid = sandbox.private_uid

    def recording_uid() -> int:
        uids.append(make_uid())
        return uids[-1]

    patch = pytest.MonkeyPatch()
    patch.setattr(sandbox, "private_uid", recording_uid)
    results = grading.grade(ref_path, [subs, twins], out, jobs=2, cell_timeout=40,
                            notebook_timeout=300, progress=False,
                            limits=sandbox.Limits(memory_mb=3072, processes=128, workdir_mb=256))
    patch.undo()
    stop.set()
    listener.close()
    return {"results": {r.student: r for r in results}, "expected": expected, "out": out,
            "before": before, "after": {p: _hash(p) for p in protected}, "targets": targets,
            "connections": len(connections), "n_files": len(list(subs.iterdir())) + 1,
            "tree_before": before_tree, "tree_after": _tree_hash(), "uids": set(uids)}


def _points(r):
    return {k: v.points for k, v in r.exercises.items()}


def _cell_error(r, marker):
    found = [e for e in r.cell_errors if marker in e]
    assert found, (marker, r.cell_errors, r.message)
    return found[0]


NEEDS_ISOLATION = {"import_instructor_answers"}
"""Attacks only a sandbox with a private file tree stops (without one the grader says so)."""


def test_every_file_has_exactly_one_row_and_the_twins_are_errors(run):
    results = run["results"]
    assert len(results) == run["n_files"]  # every file of subs/, and the twin in subs_b/
    twins = [r for name, r in results.items() if name.startswith("twin")]
    assert len(twins) == 2 and {r.status for r in twins} == {"error"}
    assert all("2 files have the student id 'twin'" in r.message for r in twins)


def test_every_submission_gets_what_it_deserves(run):
    got = {name: _points(r) for name, r in run["results"].items() if not name.startswith("twin")}
    if not sandbox.probe().filesystem:
        got = {name: v for name, v in got.items() if name not in NEEDS_ISOLATION}
        run = dict(run, expected={k: v for k, v in run["expected"].items() if k not in NEEDS_ISOLATION})
    wrong = {name: (got[name], {k: e.message for k, e in run["results"][name].exercises.items()},
                    run["results"][name].cell_errors)
             for name in got if got[name] != run["expected"].get(name)}
    assert not wrong and set(got) == set(run["expected"]), wrong


INVALID = {"not_json", "binary_garbage", "huge", "fifo", "link_to_instructor", "link_to_other_student",
           "link_dangling", "link_loop", "link_to_etc", "link_to_environ", "link_to_zero"}


def test_statuses_say_what_happened(run):
    status = {name: r.status for name, r in run["results"].items() if not name.startswith("twin")}
    assert {status[n] for n in INVALID} == {"invalid"}, {n: status[n] for n in INVALID}
    others = set(status) - INVALID
    assert {status[n] for n in others} == {"graded"}, {n: status[n] for n in others if status[n] != "graded"}
    res = run["results"]
    assert "symbolic link" in res["link_to_instructor"].message
    assert "FIFO" in res["fifo"].message and "too large" in res["huge"].message


def test_the_outputs_are_safe_to_open(run):
    out = run["out"]
    for row in csv.reader((out / "gradebook.csv").open(encoding="utf-8")):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    for path in (out / "feedback").glob("*.md"):
        text = path.read_text(encoding="utf-8")
        assert len(text.encode()) < 2**20, path.name
        assert sum(line.startswith("**Total:") for line in text.splitlines()) == 1, path.name
    loud = (out / "feedback" / "loud_exception.md").read_text()
    fence = next(line for line in loud.splitlines() if line.startswith("````"))
    assert "<script>" not in loud.split(fence)[0]
    assert (out / "grades.json").stat().st_size < 20 * 2**20
    assert run["tree_before"] == run["tree_after"], "the course files changed"


def test_messages_explain_the_zeros(run):
    res = run["results"]
    assert "cell time limit" in res["slow_answer"].exercises["0.2"].message
    assert "MemoryError" in res["memory_hog"].exercises["0.2"].message
    hardcoded = res["hardcoded_visible_cases"].exercises["0.1"].message
    assert hardcoded.startswith("A case you have not seen failed")
    assert [c["passed"] for c in res["hardcoded_visible_cases"].exercises["0.1"].checks] == [True, False]
    assert "not done yet" in res["honest_blank"].exercises["0.1"].message
    assert "not graded" in res["loops_forever"].exercises["0.2"].message


def test_forged_records_are_rejected_without_running_them(run):
    assert not (run["targets"].host_marker and __import__("os").path.exists(run["targets"].host_marker))
    assert "unusable" in run["results"]["forge_records"].exercises["0.1"].message


@needs_sandbox
def test_nothing_outside_the_sandbox_was_written_or_read(run):
    assert run["after"] == run["before"]
    res = run["results"]
    assert "WROTE []" in _cell_error(res["write_outside"], "WROTE")
    assert "READABLE []" in _cell_error(res["read_answers"], "READABLE")


@needs_sandbox
def test_the_working_folder_cannot_fill_the_disk(run):
    filled = int(re.search(r"FILLED (\d+)", _cell_error(run["results"]["fill_disk"], "FILLED"))[1])
    assert 0 < filled <= 256


@needs_sandbox
def test_no_network(run):
    assert "REACHED []" in _cell_error(run["results"]["network"], "REACHED")
    assert run["connections"] == 0


@needs_sandbox
def test_fork_bomb_is_capped_and_nothing_survives(run):
    forked = int(re.search(r"FORKED (\d+)", _cell_error(run["results"]["fork_bomb"], "FORKED"))[1])
    assert 0 < forked < 128
    left = [p.pid for p in psutil.process_iter(["uids"])  # other tests may be grading meanwhile
            if p.info["uids"] and p.info["uids"].real in run["uids"]]
    assert run["uids"] or sandbox.probe().mode != "root"
    assert left == []


def test_gradebook_is_intact(run):
    out, results = run["out"], run["results"]
    rows = {r["student"].removeprefix("'"): r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert set(rows) == set(results)
    for name, r in results.items():
        assert float(rows[name]["total"]) == r.total
        assert float(rows[name]["exercise 0.1"]) == r.exercises["0.1"].points
    grades = json.loads((out / "grades.json").read_text())
    assert set(grades) == set(results)
    assert all(g["points"]["0.1"] == results[s].exercises["0.1"].points for s, g in grades.items())
    for student in results:
        full = json.loads((out / "students" / f"{student}.json").read_text())
        assert len(full["exercises"]["0.1"]["checks"]) >= 1
    assert len(list((out / "feedback").glob("*.md"))) == len(results)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_summary_counts_and_names_the_sandbox(run):
    line = grading.summary(list(run["results"].values()))
    n = len(run["results"])
    graded = n - 2 - len(INVALID)  # the two twins are errors
    assert line.startswith(f"{n} submissions (2 error, {graded} graded, {len(INVALID)} invalid)")
    assert "sandbox:" in line


def test_the_notebook_timeout_stops_the_run_and_keeps_what_was_graded(tmp_path):
    reference, ref_path = _slim_reference(tmp_path)
    slow = nbformat.from_dict(json.loads(json.dumps(reference)))
    for _ in range(6):  # each cell within the cell timeout, all of them beyond the notebook's
        attacks._insert(slow, "import time\ntime.sleep(12)", after="exercise:0.1")
    nbformat.write(slow, str(tmp_path / "slow.ipynb"))
    [r] = grading.grade(ref_path, [tmp_path / "slow.ipynb"], tmp_path / "out", cell_timeout=20,
                        notebook_timeout=45, progress=False)
    assert r.status == "timeout" and "45 s" in r.message
    assert _points(r) == {"0.1": 2.0, "0.2": 0.0}
    assert "did not finish within 45 s" in r.exercises["0.2"].message


def test_an_honest_check_near_the_cell_limit_is_not_timed_out_by_hidden_checks(tmp_path):
    """The hidden checks run in their own cell: a student whose own check takes 0.6 of the cell
    limit keeps their points although visible plus hidden calls would exceed it."""
    reference, ref_path = _slim_reference(tmp_path)
    slow = nbformat.from_dict(json.loads(json.dumps(reference)))
    attacks._answer(slow, "0.1", "import time\n\ndef discounted_return(rewards, gamma):\n"
                                 "    time.sleep(1.2)\n"
                                 "    return rewards @ gamma ** np.arange(rewards.shape[1])\n")
    nbformat.write(slow, str(tmp_path / "slow_but_honest.ipynb"))
    [r] = grading.grade(ref_path, [tmp_path / "slow_but_honest.ipynb"], tmp_path / "out", cell_timeout=10,
                        progress=False)
    assert _points(r) == {"0.1": 2.0, "0.2": 3.0}, {k: e.message for k, e in r.exercises.items()}


def test_sigterm_stops_cleanly_and_resume_finishes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    reference, ref_path = _slim_reference(tmp_path)
    subs = tmp_path / "subs"
    subs.mkdir()
    for i in range(4):
        nb = nbformat.from_dict(json.loads(json.dumps(reference)))
        attacks._insert(nb, "import time\ntime.sleep(6)", after="exercise:0.1")
        nbformat.write(nb, str(subs / f"s{i}.ipynb"))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "course_tools", "grade", "--reference", str(ref_path), str(subs),
           "--out", str(out), "--jobs", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list((out / "students").glob("*.json")):
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "--resume" in err.strip().splitlines()[-1], err[-2000:]
    assert 1 <= len(list((out / "students").glob("*.json"))) < 4
    owner = __import__("pathlib").Path("/tmp").glob("grade-*/.grader-owner")
    left = [p for p in owner if p.read_text().split()[0] == str(proc.pid)]
    assert left == []
    assert not [line for line in open("/proc/self/mountinfo") if "/grade-" in line and
                str(proc.pid) in line]
    done = subprocess.run([*cmd, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert sorted(r["student"] for r in rows) == ["s0", "s1", "s2", "s3"]
    assert all(r["total"] == "5" for r in rows)
    assert os.path.exists(out / "run.json")


CPU_HOG = """
import os, time
for _ in range(16):
    if os.fork() == 0:
        while True:
            pass
time.sleep(45)
"""


@pytest.mark.skipif(not sandbox.probe().cgroups, reason="no control groups here: fair sharing not enforced")
def test_a_cpu_hog_does_not_starve_its_honest_neighbour(tmp_path):
    """Under --jobs 2, a submission running 16 busy processes next to an honest, CPU-bound one (4 s of
    CPU in its check cell, 25 s allowed): each run has its own CPU share, so the honest one is graded
    as if it ran alone. Without that share it would get about 2/18 of the machine and time out."""
    reference, ref_path = _slim_reference(tmp_path)
    subs = tmp_path / "subs"
    subs.mkdir()
    honest = nbformat.from_dict(json.loads(json.dumps(reference)))
    attacks._answer(honest, "0.1", "import time\n\ndef discounted_return(rewards, gamma):\n"
                                   "    end = time.process_time() + 0.8\n"
                                   "    while time.process_time() < end:\n        pass\n"
                                   "    return rewards @ gamma ** np.arange(rewards.shape[1])\n")
    nbformat.write(honest, str(subs / "honest_cpu_bound.ipynb"))
    hog = authoring.make_student(reference)
    attacks._insert(hog, CPU_HOG)
    nbformat.write(hog, str(subs / "cpu_hog.ipynb"))
    results = grading.grade(ref_path, [subs], tmp_path / "out", jobs=2, cell_timeout=25,
                            notebook_timeout=150, progress=False)
    by = {r.student: r for r in results}
    assert _points(by["honest_cpu_bound"]) == {"0.1": 2.0, "0.2": 3.0}, \
        {k: e.message for k, e in by["honest_cpu_bound"].exercises.items()}
    assert _points(by["cpu_hog"]) == {"0.1": 0.0, "0.2": 0.0}
