"""Instructor command line: ``python -m course_tools student|validate|data|grade``.

    python -m course_tools student --out handout          # the complete student handout
    python -m course_tools validate notebooks             # the exercise convention holds
    python -m course_tools data                           # rebuild course_lib/data from the solutions
    python -m course_tools sources                        # each notebook's reviewable .py script
    python -m course_tools skips                          # tag what exercise-only grading skips
    python -m course_tools grade --reference notebooks/01_mpc_and_backprop.ipynb \
        submissions/part1/ --out grades/part1 --jobs 2
    python -m course_tools gradebook --out grades/part1 --roster roster.csv --due 2025-03-07T23:59-08:00
    python -m course_tools report grades/part1            # pass rates, failed cases, integrity flags
    python -m course_tools gradescope --reference notebooks/01_mpc_and_backprop.ipynb --out ag1.zip
    python -m course_tools canvas collect submissions.zip --roster roster.csv --into submissions/part1
    python -m course_tools canvas export --roster roster.csv --assignment "Part 1 (123)=grades/part1" \
        --out canvas.csv
    python -m course_tools lab                            # write the handout, open JupyterLab on it

``python -m course_lib ...`` is the same command (kept for scripts written for version 1).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _cmd_student(args: argparse.Namespace) -> int:
    from course_tools import handout

    for line in handout.write_handout(args.out, args.source):
        print(line)
    print(f"publish {args.out}/ as it is; keep notebooks/ and course_tools/ to yourself")
    return 0


def _cmd_lab(args: argparse.Namespace) -> int:
    from course_lib import _lab
    from course_tools import handout

    for line in handout.write_handout(args.out):
        print(line)
    return _lab.launch(args.out, port=args.port, browser=not args.no_browser, dry_run=args.dry_run)


def _cmd_data(args: argparse.Namespace) -> int:
    from course_tools import data

    if not args.precomputed_only:
        for line in data.build_answers(ids=args.ids or None):
            print(line)
        print(data.build_exercise_table())
    if not args.answers_only:
        notebooks = [Path(p) for p in args.notebooks] or None
        for line in data.build_precomputed(notebooks, jobs=args.jobs):
            print(line)
    return 0


def _derived_cells(args: argparse.Namespace, module, what: str) -> int:
    """``overview`` and ``skips``: write what ``module`` derives into each notebook, or with
    ``--check`` only list the notebooks where it is stale (``module.stale`` maps each to its
    details, or lists their names)."""
    paths = [Path(p) for p in args.notebooks] or sorted(module.NOTEBOOKS.glob("*.ipynb"))
    if args.check:
        bad = module.stale(paths)
        for name in bad:
            print(f"{name}: stale {what} (run `python -m course_tools {args.command}`)")
            for line in bad[name] if isinstance(bad, dict) else []:
                print(f"  {line}")
        return 1 if bad else 0
    for path in paths:
        if module.update(path):
            print(f"wrote the {what} of {path.name}")
    return 0


def _cmd_overview(args: argparse.Namespace) -> int:
    from course_tools import overview

    return _derived_cells(args, overview, "exercise table")


def _cmd_skips(args: argparse.Namespace) -> int:
    from course_tools import skips

    return _derived_cells(args, skips, "demo/training tags")


def _cmd_sources(args: argparse.Namespace) -> int:
    from course_tools import sources

    if args.check:
        bad = sources.stale()
        for name in bad:
            print(f"{name}: its .py differs (run `python -m course_tools sources`)")
        return 1 if bad else 0
    done = sources.update_notebooks() if args.from_scripts else sources.write_scripts()
    for name in done:
        print(f"wrote {name}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from course_tools import authoring

    paths = sorted(Path(args.source).glob("*.ipynb")) if Path(args.source).is_dir() else [Path(args.source)]
    bad = 0
    for p in paths:
        problems = authoring.validate(authoring.read_notebook(p))
        for msg in problems:
            print(f"{p}: {msg}")
        bad += bool(problems)
    print(f"{len(paths) - bad}/{len(paths)} notebooks follow the exercise convention")
    return 1 if bad else 0


def _limits(args: argparse.Namespace):
    from course_tools.grading import sandbox

    threads = max(1, (os.cpu_count() or 1) // max(1, args.jobs))
    return sandbox.Limits(memory_mb=args.memory_mb, processes=args.max_processes,
                          cpu_seconds=int(args.notebook_timeout * threads) + 60)


def _report(results, out: str) -> None:
    from course_tools import grading

    print(grading.summary(results))
    print(f"gradebook: {Path(out) / 'gradebook.csv'}; feedback: {Path(out) / 'feedback'}")


def _run_grading(args: argparse.Namespace, grade) -> int:
    """Call ``grade()`` (grade or regrade): a refusal or Ctrl-C ends with one line, no traceback."""
    from course_tools import grading
    from course_tools.grading import sandbox

    print(sandbox.probe().describe(), file=sys.stderr)
    try:
        results = grade(jobs=args.jobs, cell_timeout=args.cell_timeout,
                        notebook_timeout=args.notebook_timeout, limits=_limits(args),
                        handout_package=args.handout, require_isolation=args.require_isolation)
    except grading.GradingRefused as err:
        print(f"not grading: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if not results:
        print("no submissions found", file=sys.stderr)
    _report(results, args.out)
    return 0


def _cmd_grade(args: argparse.Namespace) -> int:
    from course_tools import grading

    return _run_grading(args, lambda **common: grading.grade(
        args.reference, args.submissions, args.out, resume=args.resume, hidden_dir=args.hidden,
        seed=args.seed, force=args.force, max_submission_mb=args.max_submission_mb, full=args.full,
        partial=args.partial, **common))


def _cmd_regrade(args: argparse.Namespace) -> int:
    from course_tools import grading

    return _run_grading(args, lambda **common: grading.regrade(args.out, args.students, **common))


def _grading_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    p.add_argument("--cell-timeout", type=float, default=60, help="seconds per cell (default 60)")
    p.add_argument("--notebook-timeout", type=float, default=600,
                   help="seconds per notebook (default 600)")
    p.add_argument("--memory-mb", type=int, default=4096,
                   help="address-space limit per process of a submission (default 4096)")
    p.add_argument("--max-processes", type=int, default=256,
                   help="processes+threads a submission may have (default 256; needs root)")
    p.add_argument("--handout", default=None,
                   help="a folder holding the handout's course_lib to grade against (default: "
                        "this course's package, copied for the run)")
    p.add_argument("--require-isolation", action="store_true",
                   help="refuse to grade unless the sandbox truly isolates submissions")


def main(argv: list[str] | None = None, prog: str = "python -m course_tools") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("student", help="write the student handout (notebooks with stubs, package, "
                                       "data, images, install files)")
    p.add_argument("source", nargs="?", default=str(Path(__file__).resolve().parent.parent / "notebooks"),
                   help="an instructor notebook or a folder of them (default: notebooks/)")
    p.add_argument("--out", required=True, help="output folder (a student's edits are kept)")
    p.set_defaults(func=_cmd_student)

    p = sub.add_parser("lab", help="write (or refresh) the student handout and open it in JupyterLab "
                                   "(what `make lab` does, on any OS)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "student"),
                   help="the handout folder (default: student/; a student's edits are kept)")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--no-browser", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="write the handout, print the command only")
    p.set_defaults(func=_cmd_lab)

    p = sub.add_parser("data", help="rebuild course_lib/data: visible-check answers and the "
                                    "precomputed results of the demos")
    p.add_argument("notebooks", nargs="*", help="instructor notebooks to run (default: all)")
    p.add_argument("--answers-only", action="store_true", help="only the visible checks' answers")
    p.add_argument("--ids", nargs="*", default=[], help="answers of these exercises only (default: all)")
    p.add_argument("--precomputed-only", action="store_true", help="only the demos' results")
    p.add_argument("--jobs", type=int, default=2, help="notebooks run at once (default 2)")
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("sources", help="write each notebook's reviewable .py script (jupytext percent)")
    p.add_argument("--check", action="store_true", help="only say which pairs differ")
    p.add_argument("--from-scripts", action="store_true", help="rebuild the notebooks from edited scripts")
    p.set_defaults(func=_cmd_sources)

    p = sub.add_parser("overview", help="write the table of exercises each notebook opens with")
    p.add_argument("notebooks", nargs="*", help="notebooks (default: all)")
    p.add_argument("--check", action="store_true", help="only say which tables are stale")
    p.set_defaults(func=_cmd_overview)

    p = sub.add_parser("skips", help="tag the cells no check needs (demo/training): exercise-only "
                                     "grading skips them")
    p.add_argument("notebooks", nargs="*", help="instructor notebooks (default: notebooks/*.ipynb)")
    p.add_argument("--check", action="store_true", help="only say which tags are stale (exit 1)")
    p.set_defaults(func=_cmd_skips)

    p = sub.add_parser("validate", help="check notebooks follow the exercise convention")
    p.add_argument("source", help="a notebook or a folder of them")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("grade", help="grade submissions against a reference notebook")
    p.add_argument("--reference", required=True, help="the instructor notebook")
    p.add_argument("submissions", nargs="+", help="submission notebooks or folders of them")
    p.add_argument("--out", required=True, help="folder for gradebook.csv, grades.json, feedback/ ...")
    _grading_options(p)
    p.add_argument("--resume", action="store_true",
                   help="skip submissions already graded with the same files")
    p.add_argument("--force", action="store_true",
                   help="grade into a folder that holds grades made against another reference")
    p.add_argument("--hidden", default=None, help="folder of hidden checks (default: course_tools/hidden)")
    p.add_argument("--seed", type=int, default=None,
                   help="the run's secret seed; each student's hidden inputs derive from it "
                        "(default: the one --out used before, else a fresh random one)")
    p.add_argument("--full", action="store_true",
                   help="run every cell (default: skip the cells tagged demo/training, and rerun a "
                        "submission in full when that broke it)")
    p.add_argument("--max-submission-mb", type=float, default=32,
                   help="larger submission files are not read (default 32)")
    p.add_argument("--partial", default=None,
                   help="grade these exercises per case: 'all', 'none' or ids like '1.2,1.3' "
                        "(default: the check cells tagged 'partial')")
    p.set_defaults(func=_cmd_grade)

    p = sub.add_parser("regrade", help="grade named students of an output folder again (keeps history)")
    p.add_argument("--out", required=True, help="the output folder of an earlier `grade`")
    p.add_argument("students", nargs="+", help="student ids, as in gradebook.csv")
    _grading_options(p)
    p.set_defaults(func=_cmd_regrade)

    from course_tools.lms.cli import register

    register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
