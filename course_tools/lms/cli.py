"""The LMS commands of ``python -m course_tools`` (registered by :func:`register`)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def _cmd_gradescope(args: argparse.Namespace) -> int:
    from course_tools.lms import gradescope

    for line in gradescope.build(args.reference, args.out, partial=args.partial, seed=args.seed,
                                 cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                                 require_isolation=args.require_isolation, hidden_dir=args.hidden,
                                 memory_mb=args.memory_mb):
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use python -m course_tools")
