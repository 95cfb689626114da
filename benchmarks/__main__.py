"""Run the benchmarks, print the table, and update benchmarks/results/latest.json."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
from dataclasses import asdict

from benchmarks.core import ROOT
from benchmarks.groups import GROUPS

RESULTS = ROOT / "benchmarks" / "results" / "latest.json"


def machine() -> dict[str, str]:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__,
            "cpus": str(os.cpu_count()), "torch threads": str(torch.get_num_threads()),
            "platform": platform.platform()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--only", nargs="*", default=[], help="groups to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the groups and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(GROUPS))
        return
    chosen = [g for g in GROUPS if not args.only or g in args.only]
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"rows": []}
    rows = [r for r in previous["rows"] if r["group"] not in chosen]
    for group in chosen:
        print(f"running {group} ...", flush=True)
        rows += [asdict(r) for r in GROUPS[group]()]
    order = list(GROUPS)
    rows.sort(key=lambda r: order.index(r["group"]) if r["group"] in order else len(order))
    width = max(len(r["name"]) for r in rows) if rows else 10
    print(f"\n{'group':<10} {'benchmark':<{width}} {'value':>10}  unit  budget        detail")
    for r in rows:
        print(f"{r['group']:<10} {r['name']:<{width}} {r['value']:>10.2f}  {r['unit']:<4}  "
              f"{r['budget']:<12}  {r['detail']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    out = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "command": "python -m benchmarks " + " ".join(f"--only {g}" for g in args.only),
           "machine": machine(), "rows": rows}
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(RESULTS)
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
