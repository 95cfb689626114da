"""Make the static images the notebooks show beside each widget (and other figures).

    python assets/make_assets.py            # writes into assets/
    python assets/make_assets.py --out DIR  # writes elsewhere (the tests do this)

Each image is a demo at its default setting, drawn by the same code the widget runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(Path(__file__).parent), help="output folder")
    parser.add_argument("only", nargs="*", help="only these file names")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import course_lib
    from course_lib.demos import static_images

    for name, factory in static_images().items():
        if args.only and name not in args.only:
            continue
        course_lib.seed_everything(0)
        path = factory().save_static(out / name)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
