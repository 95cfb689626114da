"""``python -m course_lib lab``: what ``make lab`` does, without make, on any OS.

In the repository it writes (or refreshes) the handout and opens JupyterLab on it; in the
handout it opens the handout itself, with a ``__main__`` that imports nothing instructor-side.
One test starts a real JupyterLab from the handout and asks its API what it serves.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from course_lib import _lab
from course_tools import handout
from tests.conftest import ROOT


def _env():
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab") / "handout"
    handout.write_handout(out)
    return out


def test_in_the_repository_it_writes_the_handout_then_opens_it(tmp_path):
    out = tmp_path / "student"
    done = subprocess.run([sys.executable, "-m", "course_lib", "lab", "--out", str(out), "--dry-run"],
                          cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert (out / "00_welcome.ipynb").is_file() and (out / "course_lib" / "__main__.py").is_file()
    last = done.stdout.strip().splitlines()[-1]
    assert "-m jupyterlab" in last and f"--ServerApp.root_dir={out.resolve()}" in last
    assert "--ServerApp.ip=127.0.0.1" in last and last.endswith(str(out.resolve() / "00_welcome.ipynb"))
    # the version-1 commands still answer under the old name
    validate = subprocess.run([sys.executable, "-m", "course_lib", "validate", "notebooks"], cwd=ROOT,
                              capture_output=True, text=True, env=_env(), timeout=300)
    assert validate.returncode == 0 and "follow the exercise convention" in validate.stdout


def test_in_the_handout_it_opens_the_handout_and_imports_nothing_instructor_side(built):
    code = ("import sys, runpy\nsys.argv = ['course_lib', 'lab', '--dry-run']\n"
            "try:\n    runpy.run_module('course_lib', run_name='__main__')\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'course_tools'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=built, capture_output=True, text=True,
                          env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "[]" and f"--ServerApp.root_dir={built.resolve()}" in lines[-2]
    nowhere = subprocess.run([sys.executable, "-m", "course_lib", "lab", "--dry-run", "--dir", str(ROOT)],
                             cwd=built, capture_output=True, text=True, env=_env(), timeout=300)
    assert nowhere.returncode == 2 and "no 00_welcome.ipynb" in nowhere.stderr


def test_the_command_refuses_values_that_are_not_paths_or_arguments():
    with pytest.raises(TypeError):
        _lab.lab_command(3.5)
    with pytest.raises(TypeError):
        _lab.main([1, 2])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_jupyterlab_serves_the_handout(built, tmp_path):
    port, token = _free_port(), "course-lab-test"
    env = {**_env(), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "course_lib", "lab", "--no-browser", "--port", str(port),
                             f"--IdentityProvider.token={token}"], cwd=built, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        listing = None
        for _ in range(120):
            try:
                url = f"http://127.0.0.1:{port}/api/contents?token={token}"
                with urllib.request.urlopen(url, timeout=2) as r:
                    listing = json.load(r)
                break
            except OSError:
                assert proc.poll() is None, "JupyterLab stopped"
                time.sleep(0.5)
        assert listing is not None, "JupyterLab did not answer"
        names = {item["name"] for item in listing["content"]}
        assert "00_welcome.ipynb" in names and "course_lib" in names
        proc.terminate()  # the launcher became JupyterLab: a plain SIGTERM stops the server
        assert proc.wait(timeout=30) is not None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
