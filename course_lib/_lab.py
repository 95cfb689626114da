"""Open the course in JupyterLab: ``python -m course_lib lab``, on Linux, macOS and Windows.

In the student handout, ``python -m course_lib lab`` (run in the handout's folder, or anywhere
when the handout was installed with ``pip install -e .``) opens JupyterLab on the handout, at
``00_welcome.ipynb``, serving 127.0.0.1 only. Options: ``--dir FOLDER`` (another handout
folder), ``--port N``, ``--no-browser``, ``--dry-run`` (print the command only); any other
``--Name.trait=value`` option goes to JupyterLab as it is.

This module imports nothing but the standard library (and never the instructor's tools); the
instructor's ``python -m course_lib lab`` writes the handout first, then calls :func:`launch`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["WELCOME", "find_handout", "lab_command", "launch", "main"]

WELCOME = "00_welcome.ipynb"


def find_handout(start: str | os.PathLike | None = None) -> Path | None:
    """The handout folder: ``start`` if given, else the one holding this package, else the
    current folder; None unless it holds the welcome notebook."""
    here = Path(__file__).resolve().parent.parent
    candidates = [Path(start)] if start is not None else [here, Path.cwd()]
    return next((c.resolve() for c in candidates if (c / WELCOME).is_file()), None)


def lab_command(folder: str | os.PathLike, *, port: int | None = None, browser: bool = True,
                extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The command that opens JupyterLab on ``folder`` (this Python's JupyterLab, 127.0.0.1 only)."""
    if not isinstance(folder, (str, os.PathLike)) or not all(isinstance(e, str) for e in extra):
        raise TypeError("folder is a path and extra a list of strings")
    folder = Path(folder).resolve()
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}",
           "--ServerApp.ip=127.0.0.1"]
    if port is not None:
        cmd.append(f"--ServerApp.port={int(port)}")
    if not browser:
        cmd.append("--ServerApp.open_browser=False")
    if getattr(os, "geteuid", lambda: 1)() == 0:  # JupyterLab refuses root unless told (containers)
        cmd.append("--allow-root")
    return [*cmd, *extra, str(folder / WELCOME)]


def launch(folder: str | os.PathLike, *, port: int | None = None, browser: bool = True,
           extra: list[str] | tuple[str, ...] = (), dry_run: bool = False) -> int:
    """Run JupyterLab on ``folder`` until it stops (Ctrl-C). On Linux and macOS this process
    becomes JupyterLab (``exec``); on Windows it waits for it and returns its exit code."""
    cmd = lab_command(folder, port=port, browser=browser, extra=extra)
    if dry_run:
        print(subprocess.list2cmdline(cmd))
        return 0
    print(f"opening {Path(folder).resolve() / WELCOME} in JupyterLab (Ctrl-C stops it)", flush=True)
    if os.name == "posix":  # become JupyterLab: a signal to this process reaches the server itself
        os.chdir(Path(folder).resolve())
        os.execv(cmd[0], cmd)
    try:  # Windows: no exec; wait for it (Ctrl-C reaches both)
        return subprocess.call(cmd, cwd=str(Path(folder).resolve()))
    except KeyboardInterrupt:
        return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib lab [--dir D] [--port N] [--no-browser] [--dry-run] [--Jupyter.options]``."""
    if argv is not None and not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
        raise TypeError("argv is a list of strings")
    parser = argparse.ArgumentParser(prog="python -m course_lib",
                                     description="Open the course in JupyterLab.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("lab", help="open the notebooks in JupyterLab (127.0.0.1)")
    p.add_argument("--dir", default=None, help="the handout folder (default: this package's, else here)")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--no-browser", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="print the command, start nothing")
    args, extra = parser.parse_known_args(argv)
    folder = find_handout(args.dir)
    if folder is None:
        print(f"no {WELCOME} found: run this in the course's folder, or pass --dir FOLDER",
              file=sys.stderr)
        return 2
    return launch(folder, port=args.port, browser=not args.no_browser, extra=extra, dry_run=args.dry_run)
