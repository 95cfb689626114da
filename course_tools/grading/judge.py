"""The judge: replay a submission's recorded answers through the checks, in a clean process.

Anything that runs in the student's kernel can be forged by the student's code: the check
functions, ``course_lib.checks`` in ``sys.modules``, ``numpy.allclose``, ``AssertionError``,
IPython's exception handlers, the kernel's replies, the printed output. So the kernel is only
trusted to *produce values*, which the student controls anyway. Here, in a process the student
never touches, the *same* check body runs with this installation's ``course_lib.checks``; its
``Checker`` gets a :class:`Replayer` instead of the student's function, which hands back the
recorded results in order. Visible checks compare with the answers shipped in
``course_lib/data`` (built from the references); hidden checks compute theirs with the
references. To pass, the recorded results must be the right answers to inputs the judge
computes, which is solving the exercise.

:class:`JudgePool` runs judge servers (``python -I -m course_tools.grading.serve`` in an
empty folder, so no ``course_lib`` of the current folder or of a submission is imported). A
server imports the checks and loads their answers once, then forks a child per request, with
memory and CPU limits and a wall-clock timeout.
"""

from __future__ import annotations

import os
import pickle
import queue
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from course_tools.grading.cases import tracking
from course_tools.grading.codec import BadRecord, Budget, decode, fingerprint, load_record, refill
from course_tools.grading.record import GlobalRngs, safe_str

__all__ = ["judge", "judge_many", "JudgePool", "Replayer"]

JUDGE_MEMORY_MB = 4096
"""Address space of one judge child (it decodes at most one submission's records)."""


class _Exhausted(BaseException):
    """The judge needs a result the kernel never recorded (not an Exception: checks don't catch it)."""


class _Diverged(BaseException):
    """A hidden check called the student's function with other arguments than planned."""


class Replayer:
    """Stands in for the student's function: returns (or raises) the recorded results in order."""

    def __init__(self, calls: list, budget: Budget, fingerprints: list[str] | None = None):
        self.calls, self.pos, self.budget, self.fingerprints = calls, 0, budget, fingerprints

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.fingerprints is not None:
            planned = self.fingerprints[self.pos] if self.pos < len(self.fingerprints) else None
            if fingerprint(args, kwargs) != planned:
                raise _Diverged
        if self.pos >= len(self.calls):
            raise _Exhausted
        entry = self.calls[self.pos]
        self.pos += 1
        if type(entry) is not tuple or not entry or type(entry[0]) is not str:
            raise BadRecord("malformed record")
        if entry[0] == "return" and len(entry) in (2, 3):
            if len(entry) == 3:
                refill(entry[2], args, kwargs, self.budget)
            return decode(entry[1], self.budget)
        if entry[0] == "callable":
            return self
        if entry[0] == "raise" and len(entry) == 3:
            name, msg = str(entry[1])[:80], safe_str(Exception(entry[2]))
            if name == "NotImplementedError":
                raise NotImplementedError(msg)
            cls = type(name if name.isidentifier() else "Exception", (Exception,), {})
            raise cls(msg)
        raise BadRecord("malformed record")


def _target(run: Any, budget: Budget, fingerprints: list[str] | None = None) -> Any:
    from course_lib.checks._core import _MISSING

    if type(run) is not dict or type(run.get("fn")) is not tuple or not run["fn"] \
            or type(run.get("calls")) is not list:
        raise BadRecord("malformed record")
    kind = run["fn"][0]
    if kind == "missing":
        return _MISSING
    if kind == "callable":
        return Replayer(run["calls"], budget, fingerprints)
    if kind == "value" and len(run["fn"]) == 2:
        return decode(run["fn"][1], budget)
    raise BadRecord("malformed record")


def _why_unfinished(end: Any, cell_timeout: float) -> tuple[str, str]:
    if end == "interrupted":
        return "timeout", (f"not graded: your code did not finish within the cell time limit "
                           f"({cell_timeout:g} s), so the check could not see all its results")
    if isinstance(end, str) and end.startswith("error"):
        return "not_run", f"not graded: the check could not run in your notebook ({end[6:80]})"
    return "not_run", "not graded: the check did not finish in your notebook"


def _run_judged(make_checker: Callable[[Any], Any], body: Callable[[Any], None], run: Any,
                cell_timeout: float, fingerprints: list[str] | None = None) -> dict:
    """Run a check body against a recorded run: ``{"passed", "status", "message", "cases_passed",
    "failed_cases"}``. A lenient checker (an exercise graded per case) counts every case."""
    from course_lib.checks._core import _MISSING, CheckFailed

    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")  # a missing name stays missing
    ck, escaped = None, False
    try:
        target = _target(run, Budget(), fingerprints)
        with GlobalRngs():
            if target is _MISSING:
                make_checker(_MISSING)  # raises the "no `name` is defined" message
            ck = make_checker(target)
            body(ck)
        if not getattr(ck, "messages", None):
            return {"passed": True, "status": "passed", "message": "passed", "cases_passed": ck.n_cases,
                    "failed_cases": []}
        status, message = "failed", ck.messages[0]
    except CheckFailed as err:
        status, message, escaped = "failed", safe_str(err, 4000), True
    except _Exhausted:
        status, message = _why_unfinished(run.get("end"), cell_timeout)
    except _Diverged:
        escaped = True
        status, message = "failed", ("your function's outputs differ from the reference's on a case "
                                     "you have not seen, so the rest of that check could not run")
    except (BadRecord, pickle.UnpicklingError) as err:
        status = "unusable"
        message = f"not graded: the results recorded in your notebook are unusable ({err})"
    except Exception as err:  # noqa: BLE001 - e.g. a result that is not plain data
        escaped = True
        status, message = "failed", (f"the check could not use what your function returned "
                                     f"({type(err).__name__}: {safe_str(err, 300)})")
    finally:
        if main is not None:
            sys.modules["__main__"] = main
    failed_cases = list(getattr(ck, "failed_cases", []))
    passed = 0
    if ck is not None and getattr(ck, "lenient", False) and status == "failed":
        passed = max(0, ck.n_cases - ck.n_failed - escaped)  # a failure that ended the body counts too
        message = ck.messages[0] if ck.messages else message  # the first failure, not its aftermath
        others = failed_cases[1:11]
        if len(failed_cases) > 1:
            message += (f"\n  {len(failed_cases) - 1} other case(s) failed too: "
                        + "; ".join(others) + (" ..." if len(failed_cases) > 11 else ""))
    elif ck is not None and status == "failed":
        passed = max(0, ck.n_cases - 1)
    return {"passed": False, "status": status, "message": message, "cases_passed": passed,
            "failed_cases": failed_cases}


def _visible_checker(spec, lenient: bool = False) -> Callable[[Any], Any]:
    from course_lib.checks._core import _MISSING, Checker

    cls = tracking(Checker, lenient)

    def make(target: Any):
        if target is _MISSING:
            spec.check(_MISSING)  # the same "no `name` is defined" message as in the notebook
        return cls(spec.id, spec.name, target)

    return make


def _case_totals() -> dict:
    from course_lib import datafiles

    try:
        return datafiles.load("answers/_cases.json")
    except (FileNotFoundError, ValueError):
        return {}


def judge(exercise_id: str, visible: bytes | None, hidden: bytes | None, hidden_plan: dict | None,
          seed: int, hidden_dir: str | None, cell_timeout: float = 60, lenient: bool = False,
          ) -> list[dict]:
    """Decide every check of one exercise from the kernel's records (None where none was written).

    Returns one verdict per check, the visible check first: ``{"check", "kind", "passed",
    "status", "message", "cases_passed", "cases_total", "failed_cases"}``. ``lenient``: the
    exercise is graded per case (its visible check was recorded leniently too), so a failed case
    does not end a check.
    """
    from course_lib.checks import EXERCISES
    from course_tools.grading.hidden import HiddenChecker, load_hidden

    spec = EXERCISES.get(exercise_id)
    if spec is None:
        return [{"check": "?", "kind": "visible", "passed": False, "status": "error", "cases_passed": 0,
                 "cases_total": None, "message": f"grader error: no check for exercise {exercise_id}"}]
    specs = load_hidden(hidden_dir).get(exercise_id, []) if hidden_plan else []

    def verdict(kind: str, name: str, raw: bytes | None, run_one: Callable[[Any], dict], total) -> dict:
        if raw is None:
            out = {"passed": False, "status": "not_run", "cases_passed": 0, "failed_cases": [],
                   "message": "not graded: its check did not run"}
        else:
            try:
                rec = load_record(raw)
                if rec.get("kind") != kind or rec.get("exercise") != exercise_id:
                    raise BadRecord("the record is not this check's")
                out = run_one(rec.get("run"))
            except BadRecord as err:
                out = {"passed": False, "status": "unusable", "cases_passed": 0, "failed_cases": [],
                       "message": f"not graded: the results recorded in your notebook are unusable ({err})"}
        if not out["passed"] and isinstance(total, int):  # a failed check never counts every case
            failed = max(1, len(out.get("failed_cases", [])))
            out["cases_passed"] = min(out["cases_passed"], max(0, total - failed))
        return {"check": name, "kind": kind, "cases_total": total, **out}

    results = [verdict("visible", spec.name, visible,
                       lambda run: _run_judged(_visible_checker(spec, lenient), spec.body, run, cell_timeout),
                       _case_totals().get(exercise_id))]
    start = 0
    hidden_cls = tracking(HiddenChecker, lenient)
    for hs, count, total in zip(specs, hidden_plan["counts"] if hidden_plan else [],
                                hidden_plan.get("cases", [None] * len(specs)) if hidden_plan else [],
                                strict=False):
        fps = hidden_plan["fingerprints"][start:start + count]

        def run_hidden(run: Any, _hs=hs, _start=start, _count=count, _fps=fps) -> dict:
            if type(run) is dict and type(run.get("calls")) is list:
                run = dict(run, calls=run["calls"][_start:_start + _count])

            def make(target: Any):
                from course_lib.checks._core import _MISSING

                if target is _MISSING:
                    spec.check(_MISSING)
                return hidden_cls(exercise_id, spec.name, target, seed)

            return _run_judged(make, _hs.body, run, cell_timeout, _fps)

        results.append(verdict("hidden", hs.name, hidden, run_hidden, total))
        start += count
    return results


def judge_many(requests: list[dict]) -> dict[str, list[dict]]:
    """:func:`judge` for several exercises of one submission (one fork of the judge server)."""
    return {r["exercise_id"]: judge(**r) for r in requests}


def plan(hidden_dir: str | None, seed: int, exercise_ids: list[str]) -> dict:
    """:func:`course_tools.grading.hidden.plan`, run in the judge (which holds the references)."""
    from course_tools.grading.hidden import plan as _plan

    return _plan(hidden_dir, seed, exercise_ids)


# -- the judge server (in its own process) ------------------------------------------------------
def _limit_child(timeout: float) -> None:
    mb = 1024 * 1024
    for which, value in [(resource.RLIMIT_AS, JUDGE_MEMORY_MB * mb), (resource.RLIMIT_CORE, 0),
                         (resource.RLIMIT_CPU, int(timeout) + 5)]:
        _soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))


def serve() -> None:
    """Answer requests from the grader, each in a fresh fork of this preloaded process.

    Protocol on stdin/stdout: the grader sends ``len + pickle((func, kwargs, result_path,
    timeout))``; this process forks, the child writes ``pickle(result)`` to ``result_path``,
    and this process answers one line: ``ok``, ``timeout`` or ``crash <code>``.
    """
    import signal

    import course_lib.checks
    import course_tools.grading.judge as this  # not __main__: hidden checks register in modules
    from course_lib.checks._core import load_answers

    for ex_id in course_lib.checks.EXERCISES:  # load every visible answer once, before forking
        try:
            load_answers(ex_id)
        except (FileNotFoundError, ValueError):
            pass
    _case_totals()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = stdin.read(8)
        if len(head) < 8:
            return
        func, kwargs, result_path, timeout = pickle.loads(stdin.read(struct.unpack("<Q", head)[0]))
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                _limit_child(timeout)
                result = getattr(this, func)(**kwargs)
                with open(result_path, "wb") as f:
                    pickle.dump(result, f, protocol=4)
                code = 0
            except BaseException as err:  # noqa: BLE001
                with open(result_path + ".err", "w", encoding="utf-8", errors="replace") as f:
                    f.write(f"{type(err).__name__}: {safe_str(err, 500)}")
            finally:
                os._exit(code)
        deadline = time.monotonic() + timeout
        answer = b"timeout"
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                answer = b"ok" if code == 0 else f"crash {code}".encode()
                break
            time.sleep(0.005)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        stdout.write(answer + b"\n")
        stdout.flush()


# -- the grader's side ----------------------------------------------------------------------------
class JudgeError(RuntimeError):
    """The judge could not answer (it timed out, crashed or died)."""


class _JudgeServer:
    """One judge server process; ``call`` sends it a request and waits for the answer."""

    def __init__(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
        self.cwd = tempfile.mkdtemp(prefix="judge-cwd-")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "course_tools.grading.serve"], cwd=self.cwd,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True)

    def call(self, func: str, kwargs: dict, timeout: float):
        with tempfile.TemporaryDirectory(prefix="judge-") as tmp:
            path = os.path.join(tmp, "result.pkl")
            payload = pickle.dumps((func, kwargs, path, timeout), protocol=4)
            try:
                self.proc.stdin.write(struct.pack("<Q", len(payload)) + payload)
                self.proc.stdin.flush()
                answer = self.proc.stdout.readline().decode(errors="replace").strip()
            except OSError as err:
                raise JudgeError(f"the judge stopped ({err})") from None
            if answer == "ok":
                with open(path, "rb") as f:
                    return pickle.load(f)
            detail = Path(path + ".err").read_text(errors="replace") if os.path.exists(path + ".err") else ""
            raise JudgeError(f"the judge {answer or 'stopped'} {detail}".strip())

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()
        shutil.rmtree(self.cwd, ignore_errors=True)


class JudgePool:
    """``n`` judge servers shared by the grading threads (a broken one is replaced)."""

    def __init__(self, n: int = 1):
        self.servers: queue.Queue[_JudgeServer] = queue.Queue()
        for _ in range(max(1, n)):
            self.servers.put(_JudgeServer())

    def call(self, func: str, kwargs: dict, timeout: float):
        server = self.servers.get()
        try:
            return server.call(func, kwargs, timeout)
        except Exception:
            server.close()
            server = _JudgeServer()
            raise
        finally:
            self.servers.put(server)

    def close(self) -> None:
        while not self.servers.empty():
            self.servers.get().close()

    def __enter__(self) -> JudgePool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
