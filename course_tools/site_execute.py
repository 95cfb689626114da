"""Step 1 of the site build (:mod:`course_tools.website`): execute a copy of every notebook.

Each notebook runs top to bottom in a fresh kernel whose working folder is a temp folder (the
notebooks themselves stay clean). Executed copies are cached (``build/site-executed/``), keyed
on the notebook and on the ``course_lib`` sources and data it runs.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import multiprocessing
import tempfile
import time
from pathlib import Path

import nbformat

__all__ = ["execute_all", "execute_notebook"]


def _source_key(nb_path: Path) -> str:
    """Hash of the notebook and of every ``course_lib`` source and data file: when to re-execute."""
    h = hashlib.sha256(nb_path.read_bytes())
    pkg = Path(__file__).resolve().parent.parent / "course_lib"
    for f in sorted(p for p in pkg.rglob("*") if p.suffix in (".py", ".json") and p.is_file()):
        h.update(str(f.relative_to(pkg)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def execute_notebook(src: str | Path, dest: str | Path, timeout: int = 600) -> Path:
    """Run a copy of ``src`` top to bottom in a fresh kernel (cwd: a temp folder); write ``dest``.

    Raises nbclient's ``CellExecutionError`` (naming the cell) if any cell fails.
    """
    import nbclient

    src, dest = Path(src), Path(dest)
    nb = nbformat.read(str(src), as_version=4)
    with tempfile.TemporaryDirectory(prefix="course-site-") as cwd:
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                         resources={"metadata": {"path": cwd}})
        client.execute()
    nb.metadata.setdefault("course_site", {})["key"] = _source_key(src)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    nbformat.write(nb, str(tmp))
    tmp.replace(dest)
    return dest


def execute_all(paths: list[Path], cache: Path, jobs: int, timeout: int, log) -> dict[Path, Path]:
    done, todo = {}, []
    for p in paths:
        dest = cache / p.name
        if dest.exists():
            try:
                cached = nbformat.read(str(dest), as_version=4).metadata.get("course_site", {})
            except Exception:  # noqa: BLE001 - a broken cache entry is re-executed
                cached = {}
            if cached.get("key") == _source_key(p):
                log(f"  {p.name}: up to date in {dest.parent}")
                done[p] = dest
                continue
        todo.append(p)
    if todo:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads
        with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx) as pool:
            t0 = time.perf_counter()
            futures = {pool.submit(execute_notebook, p, cache / p.name, timeout): p for p in todo}
            for fut in concurrent.futures.as_completed(futures):
                p = futures[fut]
                done[p] = fut.result()
                log(f"  {p.name}: executed ({time.perf_counter() - t0:.0f} s since start)")
    return done


