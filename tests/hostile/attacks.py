"""Hostile submissions to 00_welcome, each with the grade it deserves.

Every attack is a small transformation of the (slimmed) reference notebook or of its student
version: a cell inserted somewhere, an answer replaced, a check cell edited, or a file that is
not a notebook at all. ``build(folder, reference, targets)`` writes them all and returns, per
student id, the points each exercise must get. ``targets`` holds host paths the attacks aim at
(a file in the course package, the output folder, a loopback port...), so the test can check
afterwards that nothing outside the sandbox changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_tools import authoring

FULL = {"0.1": 2.0, "0.2": 3.0}
ZERO = {"0.1": 0.0, "0.2": 0.0}


@dataclass
class Targets:
    """Host paths and ports the attacks aim at."""

    course_file: str
    """A file of the course package the judge imports (course_lib/checks/welcome.py)."""
    instructor_notebook: str
    reference: str
    hidden_checks: str
    other_submission: str
    out_dir: str
    host_marker: str
    """A path in the host's /tmp that must still not exist after grading."""
    port: int
    """A TCP port listening on the host's loopback."""


def _cell(nb, tag):
    return next(c for c in nb.cells if tag in c.get("metadata", {}).get("tags", []))


def _insert(nb, code, *, after=None, before=None, at_end=False):
    cell = nbformat.v4.new_code_cell(code)
    if at_end:
        nb.cells.append(cell)
    elif after is not None:
        nb.cells.insert(nb.cells.index(_cell(nb, after)) + 1, cell)
    elif before is not None:
        nb.cells.insert(nb.cells.index(_cell(nb, before)), cell)
    else:  # right after the setup cell (the first code cell)
        first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        nb.cells.insert(first + 1, cell)
    return nb


def _answer(nb, ex_id, code):
    _cell(nb, f"solution:{ex_id}").source = code
    return nb


ZEROS_ANSWERS = {
    "0.1": "def discounted_return(rewards, gamma):\n    return np.zeros(rewards.shape[0])\n",
    "0.2": ("def rollout(step, policy, state, T):\n"
            "    return torch.zeros(state.shape[0], T + 1, state.shape[1], dtype=state.dtype), "
            "torch.zeros(state.shape[0], T, dtype=state.dtype)\n"),
}

REDEFINE_CHECKS = """
import course_lib.checks._core as core
def _ok(*args, **kwargs):
    print("Exercise passed")
checks.discounted_return = _ok
checks.rollout = _ok
for spec in list(core.EXERCISES.values()):
    core.EXERCISES[spec.id] = core.ExerciseSpec(spec.id, spec.name, _ok, _ok)
core.Checker.call = lambda self, *a, **k: None
core.Checker.close = lambda self, *a, **k: None
core.Checker.true = lambda self, *a, **k: None
"""

FAKE_MODULES = """
import sys, types
fake = types.ModuleType("fake")
fake.discounted_return = fake.rollout = lambda *a, **k: print("Exercise passed")
fake.produce = lambda *a, **k: print("Exercise passed")
fake.EXERCISES = {}
for name in ["course_lib.checks", "course_lib.checks._core", "course_grader_record"]:
    sys.modules[name] = fake
import course_lib
course_lib.checks = fake
checks = fake
"""

CUSTOM_EXC = """
get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)
"""

IMPORT_HOOK = """
import builtins
_real_import = builtins.__import__
class _Anything:
    def __getattr__(self, name):
        return self
    def __call__(self, *a, **k):
        print("Exercise passed")
        return self
def _hooked(name, *args, **kwargs):
    if name.startswith("course_lib"):
        return _Anything()
    return _real_import(name, *args, **kwargs)
builtins.__import__ = _hooked
"""

PRINT_AND_ASSERT = """
import builtins
builtins.AssertionError = type("AssertionError", (Exception,), {})
_print = builtins.print
builtins.print = lambda *a, **k: _print("Exercise 0.1 passed: `discounted_return` is right on all 5 cases.")
print("Exercise 0.2 passed: `rollout` is right on all 5 cases.")
"""

FAKE_KERNEL_REPLIES = """
ip = get_ipython()
def _skip_grader(lines):
    text = "".join(lines)
    if "course_grader_record" in text or "checks." in text:
        try:  # a fake "passed" on iopub, then an empty cell that replies status ok
            k = ip.kernel
            k.session.send(k.iopub_socket, "stream", {"name": "stdout", "text": "Exercise passed\\n"},
                           parent=k.get_parent("shell"))
        except Exception:
            pass
        return ["None\\n"]
    return lines
ip.input_transformers_post.append(_skip_grader)
"""

PATCH_NUMPY = """
import numpy, torch
numpy.allclose = lambda *a, **k: True
torch.allclose = lambda *a, **k: True
"""

PATCH_REFERENCE = """
import course_lib.envs, course_lib.checks._core as core
core.Checker.answer = lambda self, case: 0.0
course_lib.envs.pendulum_step = lambda s, a: (torch.zeros_like(s), torch.zeros(s.shape[0], dtype=s.dtype))
"""

FORGE_RECORDS = """
import glob, os, pickle
class Evil:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))
for path in glob.glob(os.path.join(os.getcwd(), "rec-*.pkl")):
    with open(path, "wb") as f:
        pickle.dump({{"version": 1, "exercise": "0.1", "visible": Evil(), "hidden": Evil()}}, f)
"""

WRITE_OUTSIDE = """
import os
targets = {targets!r}
wrote = []
for path in targets:
    try:
        with open(path, "a") as f:
            f.write("\\nhacked = True\\n")
        wrote.append(path)
    except OSError:
        pass
raise RuntimeError(f"WROTE {{wrote}}")
"""

NETWORK = """
import socket
reached = []
for host, port in [("127.0.0.1", {port}), ("localhost", {port})]:
    try:
        socket.create_connection((host, port), timeout=3).close()
        reached.append((host, port))
    except OSError:
        pass
raise RuntimeError(f"REACHED {{reached}}")
"""

READ_ANSWERS = """
import json, os
paths = {paths!r}
readable = []
for path in paths:
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        continue
    readable.append(path)
    if path.endswith(".ipynb"):
        for cell in json.loads(text)["cells"]:
            if any(t.startswith("solution:") for t in cell["metadata"].get("tags", [])):
                exec("".join(cell["source"]), globals())
print("READABLE", readable)
"""

READ_ANSWERS_REPORT = """
raise RuntimeError(f"READABLE {readable}")
"""

UNKILLABLE_LOOP = """
import time
while True:
    try:
        time.sleep(0.5)
    except BaseException:
        pass
"""

SLOW_ANSWER = """
def rollout(step, policy, state, T):
    import time
    time.sleep(3600)
"""

MEMORY_HOG_ANSWER = """
def rollout(step, policy, state, T):
    hog = []
    while True:
        hog.append(bytearray(256 * 2**20))
"""

FORK_BOMB = """
import os, time
children = []
for _ in range(5000):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(3600)
        os._exit(0)
    children.append(pid)
raise RuntimeError(f"FORKED {len(children)}")
"""

FILL_DISK = """
import os
written, files = 0, []
try:
    while written < 64 * 1024:  # MB
        path = f"junk{len(files)}.bin"
        files.append(path)
        with open(path, "wb") as f:
            for _ in range(16):
                f.write(b"x" * 2**20)
                written += 1
except OSError:
    pass
for path in files:
    if os.path.exists(path):
        os.remove(path)
raise RuntimeError(f"FILLED {written} MB")
"""

IMPORT_INSTRUCTOR_ANSWERS = {
    "0.1": "from course_tools.references.welcome import discounted_return\n",
    "0.2": ("import importlib\n"
            "rollout = importlib.import_module('course_tools.references.welcome').rollout\n"),
}
"""Answers imported from the instructor package: it is not in the sandbox, so the import fails."""

POISON_CELL_REPORT = """
import json, os
with open(os.path.join(os.getcwd(), "cells.jsonl"), "a") as f:
    f.write("[" * 100000 + "\\n")
    f.write(json.dumps({"cell_num": 2**4000, "outcome": "failed"}) + "\\n")
    f.write('{"cell_num": 1, "grader_id": ["unhashable"], "outcome": "failed", "error": null}\\n')
    f.write('{"cell_num": 1, "grader_id": "x", "outcome": "failed", '
            '"error": {"ename": "\\\\ud800", "evalue": "\\\\udfff"}}\\n')
    f.write("1" * 100000 + "\\n")
"""
"""Lines the kernel appends to the cell report: deep nesting, a huge integer, unhashable ids, lone
surrogates, a huge number. The grader must skip them, never crash."""

POISON_RECORDS = """
import glob, os, pickle
deep = 1
for _ in range(150):
    deep = ("list", [deep])
bad = {{"version": 2, "exercise": "0.1", "kind": "visible",
        "run": {{"fn": ("callable",), "end": "finished",
                "calls": [("return", 2**100000), ("return", deep), ("return", ("dict", [(("list", [1]), 2)])),
                          ("return", "\\udcff" * 10)]}}}}
for path in glob.glob(os.path.join(os.getcwd(), "rec-*.pkl")):
    with open(path, "wb") as f:
        pickle.dump(bad, f, protocol=4)
"""
"""Records overwritten after the checks ran: huge integers, deep nesting, unhashable keys, surrogates."""

LOUD_ANSWER = """
def discounted_return(rewards, gamma):
    raise ValueError("```\\n**Total: 5 / 5**\\n<script>alert(1)</script>\\udcff\\x1b[2J" + "x" * 5_000_000)
"""
"""An exception message of megabytes that tries to close the fence, forge a total and add HTML."""

HARDCODED_VISIBLE = """
def discounted_return(rewards, gamma):
    # right only on the shapes the visible check uses
    if rewards.shape in [(4, 6), (3, 5), (2, 7), (5, 1), (1, 200)]:
        return rewards @ gamma ** np.arange(rewards.shape[1])
    return rewards.sum(axis=1)
"""


def build(folder: Path, reference: nbformat.NotebookNode, t: Targets) -> dict[str, dict]:
    """Write every hostile (and a few honest) submissions; return expected points by student."""
    folder.mkdir(parents=True, exist_ok=True)

    def ref():
        return nbformat.from_dict(json.loads(json.dumps(reference)))

    def stub():
        return authoring.make_student(reference)

    subs: dict[str, tuple[object, dict]] = {
        # honest submissions graded in the same run
        "honest_full": (ref(), FULL),
        "honest_blank": (stub(), ZERO),
        "honest_wrong_0_2": (_answer(ref(), "0.2", ZEROS_ANSWERS["0.2"]), {"0.1": 2.0, "0.2": 0.0}),
        # tampering inside the kernel: stub answers, then an attack right after the setup cell
        "redefine_checks": (_insert(stub(), REDEFINE_CHECKS), ZERO),
        "fake_modules": (_insert(stub(), FAKE_MODULES), ZERO),
        "custom_exception_handler": (_insert(stub(), CUSTOM_EXC), ZERO),
        "import_hook": (_insert(stub(), IMPORT_HOOK), ZERO),
        "print_and_assert": (_insert(stub(), PRINT_AND_ASSERT), ZERO),
        "fake_kernel_replies": (_insert(stub(), FAKE_KERNEL_REPLIES), ZERO),
        "patch_numpy": (_insert(_answer(_answer(stub(), "0.1", ZEROS_ANSWERS["0.1"]), "0.2",
                                        ZEROS_ANSWERS["0.2"]), PATCH_NUMPY), ZERO),
        "patch_reference": (_insert(_answer(_answer(stub(), "0.1", ZEROS_ANSWERS["0.1"]), "0.2",
                                            ZEROS_ANSWERS["0.2"]), PATCH_REFERENCE), ZERO),
        "forge_records": (_insert(stub(), FORGE_RECORDS.format(marker=t.host_marker), at_end=True),
                          ZERO),
        "import_instructor_answers": (_answer(_answer(stub(), "0.1", IMPORT_INSTRUCTOR_ANSWERS["0.1"]),
                                              "0.2", IMPORT_INSTRUCTOR_ANSWERS["0.2"]), ZERO),
        "poison_cell_report": (_insert(stub(), POISON_CELL_REPORT, at_end=True), ZERO),
        "poison_records": (_insert(ref(), POISON_RECORDS.format(), at_end=True), ZERO),
        "loud_exception": (_answer(ref(), "0.1", LOUD_ANSWER), {"0.1": 0.0, "0.2": 3.0}),
        "hardcoded_visible_cases": (_answer(ref(), "0.1", HARDCODED_VISIBLE), {"0.1": 0.0, "0.2": 3.0}),
        # the sandbox
        "write_outside": (_insert(ref(), WRITE_OUTSIDE.format(targets=[
            t.course_file, t.instructor_notebook, t.other_submission, t.out_dir + "/gradebook.csv",
            t.host_marker, t.hidden_checks])), FULL),
        "network": (_insert(ref(), NETWORK.format(port=t.port)), FULL),
        # stub answers; the first answer cell tries to read the solutions and run them
        "read_answers": (_insert(_answer(_answer(stub(), "0.1", READ_ANSWERS.format(paths=[
            t.instructor_notebook, t.reference, t.hidden_checks, t.other_submission])), "0.2",
            "pass"), READ_ANSWERS_REPORT, at_end=True), ZERO),
        "loops_forever": (_insert(ref(), UNKILLABLE_LOOP, after="exercise:0.1"),
                          {"0.1": 2.0, "0.2": 0.0}),
        "slow_answer": (_answer(ref(), "0.2", SLOW_ANSWER), {"0.1": 2.0, "0.2": 0.0}),
        "memory_hog": (_answer(ref(), "0.2", MEMORY_HOG_ANSWER), {"0.1": 2.0, "0.2": 0.0}),
        "fill_disk": (_insert(ref(), FILL_DISK, at_end=True), FULL),
        "fork_bomb": (_insert(ref(), FORK_BOMB, after="exercise:0.1"), FULL),
    }
    broken_import = ref()
    first = next(c for c in broken_import.cells if c.cell_type == "code")
    first.source = "import course_lib.there_is_no_such_module\n" + first.source
    subs["raises_at_import"] = (broken_import, ZERO)

    edited = ref()  # right 0.1 with its check deleted; wrong 0.2 with its check neutered
    edited.cells.remove(_cell(edited, "exercise:0.1"))
    _answer(edited, "0.2", ZEROS_ANSWERS["0.2"])
    _cell(edited, "exercise:0.2").source = "print('Exercise 0.2 passed: all cases')"
    subs["delete_and_edit_checks"] = (edited, {"0.1": 2.0, "0.2": 0.0})

    expected = {}
    for name, (nb, points) in subs.items():
        nbformat.write(nb, str(folder / f"{name}.ipynb"))
        expected[name] = points
    (folder / "not_json.ipynb").write_text("{ this is not a notebook")
    expected["not_json"] = ZERO
    expected.update(_file_attacks(folder, ref, stub, t))
    nbformat.write(nbformat.v4.new_notebook(), str(folder / "no_cells.ipynb"))
    expected["no_cells"] = ZERO
    (folder / "binary_garbage.ipynb").write_bytes(bytes(range(256)) * 40)
    expected["binary_garbage"] = ZERO
    return expected


def _malformed(nb) -> str:
    """The notebook's JSON with a code cell lacking "outputs" and a lone surrogate in a field."""
    data = json.loads(json.dumps(nb))
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    data["cells"].insert(0, {"cell_type": "markdown", "metadata": {"tags": ["x", 3]}, "source": "SURROGATE"})
    data["metadata"]["weird"] = {"k": [1, {"deep": None}]}
    return json.dumps(data).replace("SURROGATE", "\\ud800 lone half of a pair")


def _file_attacks(folder: Path, ref, stub, t: Targets) -> dict[str, dict]:
    """Files that are not plain notebooks, odd names, and honest files with hostile-looking names.

    Returns expected points by *safe id* (see ``course_tools.grading.submissions.safe_id``).
    """
    import os

    from course_tools.grading.submissions import safe_id

    expected: dict[str, dict] = {}

    def link(name: str, target: str) -> None:
        os.symlink(target, folder / name)
        expected[name[:-6]] = ZERO

    link("link_to_instructor.ipynb", t.instructor_notebook)
    link("link_to_other_student.ipynb", t.other_submission)
    link("link_dangling.ipynb", str(folder / "no_such_file.ipynb"))
    link("link_loop.ipynb", str(folder / "link_loop.ipynb"))
    link("link_to_etc.ipynb", "/etc")
    link("link_to_environ.ipynb", "/proc/self/environ")
    link("link_to_zero.ipynb", "/dev/zero")
    os.mkfifo(folder / "fifo.ipynb")
    expected["fifo"] = ZERO
    (folder / "huge.ipynb").write_bytes(b"{" + b" " * (40 * 2**20) + b"}")
    expected["huge"] = ZERO
    (folder / "malformed_but_honest.ipynb").write_text(_malformed(ref()))
    expected["malformed_but_honest"] = FULL
    odd = os.fsencode(folder) + b"/honest_\xff\xfe_latin.ipynb"
    with open(odd, "w") as f:
        f.write(json.dumps(ref()))
    expected[safe_id(os.path.basename(odd))] = FULL
    long_name = "honest_" + "x" * 240 + ".ipynb"
    (folder / long_name).write_text(json.dumps(ref()))
    expected[safe_id(long_name.encode())] = FULL
    formula = '=HYPERLINK("x")+cmd|calc.ipynb'
    (folder / formula).write_text(json.dumps(stub()))
    expected[safe_id(formula.encode())] = ZERO
    (folder / "-2+3.ipynb").write_text(json.dumps(stub()))
    expected["-2+3"] = ZERO
    return expected

