"""Which cells exercise-only grading may skip: the ``demo`` and ``training`` tags, derived.

The grader skips cells tagged ``demo`` or ``training`` (:data:`authoring.SKIP_WHEN_GRADING`).
Tagging by hand drifts: one untagged cell reading a name that only a skipped cell defines makes
every submission fail the quick run and be rerun in full, and nothing would tell. So the tags
are computed from the code:

1. **kept** are the setup cell (the first code cell), every answer cell (``solution:<id>``),
   every check cell (``exercise:<id>``), every cell tagged ``graded-run`` (an author's "always
   run this"), and, transitively, every cell defining a name that a kept cell reads;
2. **every other code cell is skipped**: ``training`` if it trains or loads a precomputed run,
   ``demo`` otherwise (the two behave the same; the name says why the cell is slow).

Names are read from the Python syntax tree (IPython magics translated first). Reads are
over-approximated (every name loaded anywhere in the cell, function bodies included), so a
kept cell can only keep too much, never too little.

    python -m course_tools skips            # write the tags into every notebook
    python -m course_tools skips --check    # list the cells whose tag is stale (exit 1)

``tests/test_skips.py`` runs the check on every notebook.
"""

from __future__ import annotations

import ast
import builtins
import symtable
from pathlib import Path
from typing import Any

from course_tools import authoring

__all__ = ["KEEP_TAG", "plan", "problems", "update", "stale", "names"]

KEEP_TAG = "graded-run"
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
_TRAINING_WORDS = ("run_or_load", "train", ".fit(", "fit_", "learn(", "sweep")


def _python(source: str) -> str:
    """The cell as plain Python (``%matplotlib widget`` and friends become calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _scoped_reads(table: symtable.SymbolTable) -> set[str]:
    """Module-level names read inside the functions, lambdas, classes and comprehensions of a
    cell: their free globals (parameters and locals are not reads of another cell)."""
    out = set()
    for child in table.get_children():
        out |= {s.get_name() for s in child.get_symbols()
                if s.is_referenced() and s.is_global()}
        out |= _scoped_reads(child)
    return out


def names(source: str) -> tuple[set[str], set[str]]:
    """(names the cell defines at top level, names of other cells it reads) for one code cell.

    A top-level name the cell assigns before it first reads it is its own, not a read; the
    functions it defines read the module-level names that are free in them."""
    code = _python(source)
    tree = ast.parse(code)
    defined: set[str] = set()
    first_store: dict[str, int] = {}
    first_load: dict[str, int] = {}
    for k, stmt in enumerate(tree.body):
        for sub in _top_level_nodes(stmt):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(sub.name)
                first_store.setdefault(sub.name, k)
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                for a in sub.names:
                    if a.name != "*":
                        name = (a.asname or a.name).split(".")[0]
                        defined.add(name)
                        first_store.setdefault(name, k)
            elif isinstance(sub, ast.AugAssign) and isinstance(sub.target, ast.Name):
                first_load.setdefault(sub.target.id, k)  # x += 1 reads x first
            elif isinstance(sub, ast.Name):
                if isinstance(sub.ctx, ast.Load):
                    first_load.setdefault(sub.id, k)
                else:
                    defined.add(sub.id)
                    first_store.setdefault(sub.id, k)
    read = {n for n, k in first_load.items() if not (n in first_store and first_store[n] < k)}
    read |= _scoped_reads(symtable.symtable(code, "<cell>", "exec"))
    return defined, read - set(dir(builtins))


def _top_level_nodes(stmt: ast.AST):
    """The nodes of a statement that run in the module's scope (not inside a function, lambda,
    class body or comprehension, whose names ``symtable`` sorts out); decorators, default
    values and a comprehension's first iterable do run at module level."""
    stack = [stmt]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack += [*node.decorator_list, *_defaults(node.args)]
        elif isinstance(node, ast.ClassDef):
            stack += [*node.decorator_list, *node.bases, *node.keywords]
        elif isinstance(node, ast.Lambda):
            stack += _defaults(node.args)
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            stack.append(node.generators[0].iter)
        else:
            stack += list(ast.iter_child_nodes(node))


def _defaults(args: ast.arguments) -> list[ast.expr]:
    return [d for d in [*args.defaults, *args.kw_defaults] if d is not None]


def _code_cells(nb: Any) -> list[tuple[int, Any]]:
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def _seeds(nb: Any) -> set[int]:
    code = _code_cells(nb)
    keep = {code[0][0]} if code else set()
    for i, cell in code:
        t = authoring.tags(cell)
        if KEEP_TAG in t or authoring.tag_value(cell, "solution") is not None \
                or authoring.tag_value(cell, "exercise") is not None:
            keep.add(i)
    return keep


def plan(nb: Any) -> dict[int, str | None]:
    """For each code cell's index: ``None`` (kept) or the skip tag it should carry."""
    code = _code_cells(nb)
    info = {i: names(authoring._source(c)) for i, c in code}
    definers: dict[str, list[int]] = {}
    for i, _ in code:
        for name in info[i][0]:
            definers.setdefault(name, []).append(i)
    keep, todo = set(), list(_seeds(nb))
    while todo:
        i = todo.pop()
        if i in keep:
            continue
        keep.add(i)
        for name in info[i][1]:
            cells = definers.get(name, [])
            before = [j for j in cells if j < i]
            # the latest definition before this cell; a name defined only later (a function
            # reading a global set further down) keeps its first definition
            # (the one a full run would use: what that cell reads is followed in turn)
            todo += before[-1:] or cells[:1]
    out: dict[int, str | None] = {}
    for i, cell in code:
        if i in keep:
            out[i] = None
            continue
        src = authoring._source(cell)
        have = [t for t in authoring.SKIP_WHEN_GRADING if t in authoring.tags(cell)]
        out[i] = have[0] if have else ("training" if any(w in src for w in _TRAINING_WORDS) else "demo")
    return out


def problems(nb: Any) -> list[str]:
    """The cells whose skip tag disagrees with :func:`plan` (empty when the tags are right)."""
    found = []
    for i, want in plan(nb).items():
        have = [t for t in authoring.SKIP_WHEN_GRADING if t in authoring.tags(nb.cells[i])]
        if want is None and have:
            found.append(f"cell {i}: tagged {have[0]!r} but a graded cell needs what it defines")
        elif want is not None and not have:
            found.append(f"cell {i}: no graded cell needs it; tag it {want!r} so grading skips it")
    return found


def update(path: str | Path) -> bool:
    """Write the planned tags into the notebook at ``path``; whether it changed."""
    nb = authoring.read_notebook(path)
    changed = False
    for i, want in plan(nb).items():
        cell = nb.cells[i]
        old = list(authoring.tags(cell))
        new = [t for t in old if t not in authoring.SKIP_WHEN_GRADING or t == want]
        if want is not None and want not in new:
            new.append(want)
        if new != old:
            changed = True
            if new:
                cell.metadata["tags"] = new
            else:
                cell.metadata.pop("tags", None)
    if changed:
        Path(path).write_bytes(authoring.notebook_bytes(nb))
    return changed


def stale(paths: list[Path]) -> dict[str, list[str]]:
    """Notebook name -> its stale cells, for the notebooks whose tags disagree with the plan."""
    out = {}
    for path in paths:
        found = problems(authoring.read_notebook(path))
        if found:
            out[Path(path).name] = found
    return out
