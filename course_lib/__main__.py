"""Instructor command line: ``python -m course_lib student|grade|validate``.

    python -m course_lib student notebooks --out student
    python -m course_lib grade --reference notebooks/01_mpc.ipynb submissions/ --out grades --jobs 2
    python -m course_lib validate notebooks
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _cmd_student(args: argparse.Namespace) -> int:
    from course_lib import authoring

    for line in authoring.write_student_versions(args.source, args.out):
        print(line)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from course_lib import authoring

    paths = sorted(Path(args.source).glob("*.ipynb")) if Path(args.source).is_dir() else [Path(args.source)]
    bad = 0
    for p in paths:
        problems = authoring.validate(authoring.read_notebook(p))
        for msg in problems:
            print(f"{p}: {msg}")
        bad += bool(problems)
    print(f"{len(paths) - bad}/{len(paths)} notebooks follow the exercise convention")
    return 1 if bad else 0


def _cmd_grade(args: argparse.Namespace) -> int:
    from course_lib import grading, sandbox

    subs: list[Path] = []
    for s in args.submissions:
        p = Path(s)
        subs.extend(sorted(p.glob("*.ipynb")) if p.is_dir() else [p])
    if not subs:
        print("no submissions given", file=sys.stderr)
        return 2
    threads = max(1, (os.cpu_count() or 1) // max(1, args.jobs))
    limits = sandbox.Limits(memory_mb=args.memory_mb, processes=args.max_processes,
                            cpu_seconds=int(args.notebook_timeout * threads) + 60)
    isolation = sandbox.probe()
    print(isolation.describe(), file=sys.stderr)
    results = grading.grade(args.reference, subs, args.out, jobs=args.jobs,
                            cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                            resume=args.resume, hidden_dir=args.hidden, limits=limits, seed=args.seed)
    print(grading.summary(results))
    print(f"gradebook: {Path(args.out) / 'gradebook.csv'}; feedback: {Path(args.out) / 'feedback'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("student", help="write student versions (solutions replaced by stubs)")
    p.add_argument("source", help="an instructor notebook or a folder of them")
    p.add_argument("--out", required=True, help="output folder (a student's edits are kept)")
    p.set_defaults(func=_cmd_student)

    p = sub.add_parser("validate", help="check notebooks follow the exercise convention")
    p.add_argument("source", help="a notebook or a folder of them")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("grade", help="grade submissions against a reference notebook")
    p.add_argument("--reference", required=True, help="the instructor notebook")
    p.add_argument("submissions", nargs="+", help="submission notebooks or folders of them")
    p.add_argument("--out", required=True, help="folder for gradebook.csv, grades.json, feedback/")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    p.add_argument("--cell-timeout", type=float, default=60, help="seconds per cell (default 60)")
    p.add_argument("--notebook-timeout", type=float, default=600,
                   help="seconds per notebook (default 600)")
    p.add_argument("--resume", action="store_true",
                   help="skip submissions already graded with the same files")
    p.add_argument("--hidden", default=None,
                   help="folder of hidden checks (default: grading/hidden next to course_lib)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the hidden checks' inputs (default: a fresh random one)")
    p.add_argument("--memory-mb", type=int, default=4096,
                   help="address-space limit per process of a submission (default 4096)")
    p.add_argument("--max-processes", type=int, default=256,
                   help="processes+threads a submission may have (default 256; needs root)")
    p.set_defaults(func=_cmd_grade)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
