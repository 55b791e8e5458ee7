"""Table 1 (accuracy) and Table 2 (time) from finished runs, beside the paper's numbers.

    python scripts/make_tables.py                       # every run under outputs/
    python scripts/make_tables.py outputs/multirun/2026-11-23_12-00-00 --out outputs/tables

Writes table1/table2 as Markdown, LaTeX and CSV, a bar chart PNG per table, and ordering.md
(whether the paper's PixelDCL >= iPixelDCL >= DCL mean-IoU ordering holds beyond seed noise).
Cells without a run show "—".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pixeldcn.report.runs import find_runs
from pixeldcn.report.tables import write_tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="*", type=Path, default=[Path("outputs")], help="run or sweep directories")
    parser.add_argument("--out", type=Path, default=Path("outputs/tables"))
    args = parser.parse_args(argv)

    missing = [str(root) for root in args.roots if not root.exists()]
    if missing:
        print(f"error: no such directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    records = [r for r in find_runs(args.roots) if args.out not in r.run_dir.parents]
    written = write_tables(records, args.out)
    print(f"{len(records)} finished runs -> {args.out}/")
    print((args.out / "table1.md").read_text(encoding="utf-8"))
    print((args.out / "ordering.md").read_text(encoding="utf-8"))
    print("wrote " + ", ".join(sorted(written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
