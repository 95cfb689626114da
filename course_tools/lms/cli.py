"""The LMS commands of ``python -m course_tools`` (registered by :func:`register`)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

__all__ = ["register"]


def _cmd_gradescope(args: argparse.Namespace) -> int:
    from course_tools.lms import gradescope

    for line in gradescope.build(args.reference, args.out, partial=args.partial, seed=args.seed,
                                 cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                                 require_isolation=args.require_isolation, hidden_dir=args.hidden,
                                 memory_mb=args.memory_mb):
        print(line)
    return 0


def _exercise_ids(out: Path, results: dict) -> list[str]:
    from course_tools import authoring

    try:
        ref = json.loads((out / "run.json").read_text())["reference"]
        return list(authoring.exercises(authoring.read_notebook(ref)))
    except (OSError, ValueError, KeyError, authoring.AuthoringError):
        return list(next((r.exercises for r in results.values() if r.exercises), {}))


def _cmd_gradebook(args: argparse.Namespace) -> int:
    from course_tools.grading.results import ResultStore
    from course_tools.lms import policy
    from course_tools.lms.roster import Roster

    out = Path(args.out)
    changes: dict = {}
    if args.roster:
        Roster.load(args.roster)  # refuse a roster that cannot be used, before copying it
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.roster, out / "roster.csv")
        changes["roster"] = "roster.csv"
    if args.due:
        policy.parse_time(args.due)
        changes["late"] = policy.as_dict(policy.LatePolicy(args.due, args.penalty_per_day, args.free_days,
                                                           args.max_days, args.grace_minutes))
    if args.no_late:
        changes["late"] = {}
    if args.bom is not None:
        changes["bom"] = args.bom
    if args.times:
        shutil.copyfile(args.times, out / policy.TIMES)
    settings = policy.save_settings(out, **changes)
    policy.ensure_overrides(out, bom=bool(settings.get("bom")))
    store = ResultStore(out)
    results = store.load_all()
    store.write_index(_exercise_ids(out, results))
    from course_tools.lms.book import class_book

    book = class_book(out, results, _exercise_ids(out, results))
    print(f"wrote {out / 'gradebook.csv'}: {len(book.rows)} rows"
          + (f" ({len(book.missing)} with no submission get 0)" if book.missing else "")
          + ("; UTF-8 with BOM (Excel)" if settings.get("bom") else "; UTF-8"))
    if book.not_in_roster:
        print(f"graded but not in the roster (kept): {', '.join(book.not_in_roster)}")
    if book.late:
        print(f"late: {', '.join(f'{s} ({d} d)' for s, d in sorted(book.late.items()))}")
    for problem in book.problems:
        print(f"problem: {problem}")
    print(f"overrides: edit {out / policy.OVERRIDES} (student, override, extra_days, comment); "
          "they survive every regrade")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from course_tools.lms import report

    data = report.build(args.out)
    print(json.dumps(data, indent=1, default=list) if args.json else report.render(data), end="")
    return 0


def _cmd_roster_collect(args: argparse.Namespace) -> int:
    from course_tools.lms.roster import Roster

    roster = Roster.load(args.roster)
    into = Path(args.into)
    into.mkdir(parents=True, exist_ok=True)
    files = [p for item in args.files for p in (sorted(Path(item).glob("*.ipynb")) if Path(item).is_dir()
                                                 else [Path(item)])]
    taken: dict[str, Path] = {}
    for path in files:
        student = roster.match(path.name)
        if student is None:
            print(f"no student matches {path} (add an alias to the roster)")
        elif student.id in taken:
            print(f"{path}: {student.id} already has {taken[student.id]}; not collected")
        elif path.is_symlink() or not path.is_file():
            print(f"{path}: not a regular file; not collected")
        else:
            shutil.copyfile(path, into / f"{student.id}.ipynb")
            taken[student.id] = path
    absent = sorted(set(roster.students) - set(taken))
    print(f"collected {len(taken)} notebooks into {into}"
          + (f"; nothing from {len(absent)}: {', '.join(absent)}" if absent else ""))
    return 0


def _cmd_canvas(args: argparse.Namespace) -> int:
    from course_tools.grading.results import ResultStore
    from course_tools.lms import canvas
    from course_tools.lms.roster import Roster

    needed = ["zip", "into"] if args.action == "collect" else ["roster", "assignment", "out"]
    missing = [n for n in needed if not getattr(args, n)]
    if missing:
        raise SystemExit(f"canvas {args.action} needs " + ", ".join(("--" if n != "zip" else "") + n
                                                                   for n in missing))
    if args.action == "collect":
        roster = Roster.load(args.roster) if args.roster else None
        for line in canvas.collect(args.zip, args.into, roster, args.expect).lines():
            print(line)
        return 0
    roster = Roster.load(args.roster)
    pairs = []
    for spec in args.assignment:
        title, sep, folder = spec.rpartition("=")
        if not sep or not title:
            raise SystemExit(f"--assignment {spec!r}: write it as 'Title (canvas id)=grades/folder'")
        pairs.append((title, folder))
    possible = None
    if args.points_possible:
        def most(folder: str) -> float:
            return max((sum(e.max_points for e in r.exercises.values())
                        for r in ResultStore(folder).load_all().values()), default=0.0)

        possible = {t: most(f) for t, f in pairs}
    for line in canvas.export(roster, pairs, args.out, bom=args.bom, points_possible=possible):
        print(line)
    return 0


def register(sub) -> None:
    """Add the LMS subcommands to ``python -m course_tools``'s parser."""
    p = sub.add_parser("gradescope", help="build a Gradescope autograder zip for one part")
    p.add_argument("--reference", required=True, help="the instructor notebook of the part")
    p.add_argument("--out", required=True, help="the zip to write, e.g. autograder_part1.zip")
    p.add_argument("--partial", default=None, help="grade per case: 'all', 'none' or ids "
                                                  "(default: the check cells tagged 'partial')")
    p.add_argument("--seed", type=int, default=None, help="the run's secret seed (default: a new one)")
    p.add_argument("--cell-timeout", type=float, default=60, help="seconds per cell (default 60)")
    p.add_argument("--notebook-timeout", type=float, default=600, help="seconds per notebook (default 600)")
    p.add_argument("--memory-mb", type=int, default=4096, help="memory per process (default 4096)")
    p.add_argument("--hidden", default=None, help="folder of hidden checks (default: course_tools/hidden)")
    p.add_argument("--require-isolation", action="store_true",
                   help="in the container, refuse to grade unless the sandbox isolates the submission")
    p.set_defaults(func=_cmd_gradescope)

    p = sub.add_parser("gradebook", help="set a grades folder's roster, late policy and Excel option; "
                                         "rebuild its gradebook.csv")
    p.add_argument("--out", required=True, help="the grades folder, e.g. grades/part1")
    p.add_argument("--roster", help="the class list (CSV; a Canvas gradebook export works)")
    p.add_argument("--due", help="due time, ISO 8601 with its offset: 2025-03-07T23:59-08:00")
    p.add_argument("--penalty-per-day", type=float, default=0.1,
                   help="fraction of the points lost per day late (default 0.1)")
    p.add_argument("--free-days", type=int, default=0, help="late days without penalty (default 0)")
    p.add_argument("--max-days", type=int, default=None, help="later than this (past free days): 0 points")
    p.add_argument("--grace-minutes", type=float, default=0, help="minutes forgiven after the due time")
    p.add_argument("--no-late", action="store_true", help="remove the late policy")
    p.add_argument("--times", help="CSV of submission times: student, submitted_at[, late]")
    p.add_argument("--bom", action=argparse.BooleanOptionalAction, default=None,
                   help="write CSV files with a UTF-8 byte-order mark, for Excel (kept for the folder)")
    p.set_defaults(func=_cmd_gradebook)

    p = sub.add_parser("report", help="pass rates, most-failed cases, timeouts, invalid files, "
                                      "integrity flags (for the instructor)")
    p.add_argument("out", help="the grades folder")
    p.add_argument("--json", action="store_true", help="the report's data as JSON")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("roster", help="collect LMS-named notebooks into <student id>.ipynb with a roster")
    p.add_argument("action", choices=["collect"])
    p.add_argument("files", nargs="+", help="notebooks or folders of them, named by the LMS")
    p.add_argument("--roster", required=True)
    p.add_argument("--into", required=True, help="folder to write <student id>.ipynb into")
    p.set_defaults(func=_cmd_roster_collect)

    p = sub.add_parser("canvas", help="collect a Canvas submissions zip, or export grades for Canvas")
    p.add_argument("action", choices=["collect", "export"])
    p.add_argument("zip", nargs="?", help="collect: the zip from Canvas's Download Submissions")
    p.add_argument("--into", help="collect: folder to write <student id>.ipynb into")
    p.add_argument("--expect", help="collect: the assignment's notebook name, preferred among several")
    p.add_argument("--roster", help="the class list (required for export)")
    p.add_argument("--assignment", action="append", default=[],
                   help="export: 'Column title (canvas assignment id)=grades/part1', repeatable")
    p.add_argument("--out", help="export: the CSV to write")
    p.add_argument("--bom", action="store_true", help="export: UTF-8 with BOM (for Excel)")
    p.add_argument("--points-possible", action="store_true",
                   help="export: add Canvas's 'Points Possible' row (sets the assignments' points)")
    p.set_defaults(func=_cmd_canvas)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use python -m course_tools")
