"""CSV files that spreadsheets and LMSs read correctly, and CSV files people made, read leniently.

Written files are UTF-8, comma-separated, one header row; no cell starts a spreadsheet formula
(:func:`course_tools.grading.results.csv_safe`); numbers are plain (``1.5``, never ``1,5``);
nothing looks like a date (a case count is written ``9 of 12``, never ``9/12``). With
``bom=True`` the file starts with a UTF-8 byte-order mark, which Excel needs to read accents
and non-Latin names right when the file is double-clicked (Canvas and Python ignore it).

Read files may come from Excel (a BOM, ``;`` as separator in many locales, Windows-1252 when
saved as plain "CSV") or from an LMS export: :func:`read_table` copes with all of these.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from course_tools.grading.results import csv_safe

__all__ = ["write_csv", "read_table", "number", "key"]


def number(value: float) -> str:
    """A number as a spreadsheet reads it everywhere: ``2``, ``1.5``, ``0.3333``."""
    return f"{round(float(value), 4):g}"


def key(name: str) -> str:
    """A header name, normalised: ``"SIS User ID"`` -> ``"sis_user_id"``."""
    return "_".join(name.replace("\ufeff", "").strip().lower().replace("-", " ").split())


def write_csv(path: str | Path, header: list[str], rows: list[list], bom: bool = False) -> None:
    """Write ``rows`` under ``header`` atomically; strings made formula-safe, numbers kept plain."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([csv_safe(h) for h in header])
    for row in rows:
        w.writerow([number(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else csv_safe(v)
                    for v in row])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(("\ufeff" if bom else "") + buf.getvalue(), encoding="utf-8", newline="")
    os.replace(tmp, path)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def read_table(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """``(normalised header, rows as {key: text})`` of a CSV file from a person or an LMS."""
    text = _decode(Path(path).read_bytes())
    first = text.split("\n", 1)[0]
    delimiter = max([",", ";", "\t"], key=first.count)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        return [], []
    header = [key(h) for h in rows[0]]
    out = []
    for row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue
        out.append({h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header) if h})
    return header, out
