"""Table 1 (accuracy) and Table 2 (time) from run directories, beside the paper's numbers.

    python scripts/make_tables.py                       # every run under outputs/
    python scripts/make_tables.py outputs/multirun/2026-11-23_12-00-00 --out outputs/tables
    python scripts/make_tables.py --experiment table1_offline --dataset fashion_scenes

A cell pools only runs of the same experiment whose result-changing settings all agree (dataset,
model, up-sampler and their options, training length, batch size, image size, optimizer,
precision, ...), one run per seed; debug and mode=eval runs are left out unless asked for. Every
run directory that is not used is listed with the reason. Writes into --out:
  table1.md/.tex/.csv/.png   accuracy per cell (mean ± std over seeds), the paper's values beside
  table2.md/.tex/.csv/.png   training and prediction times of training runs, ratios to deconv6/deconv
  ordering.md, comparisons.csv   the paper's PixelDCL >= iPixelDCL >= DCL claims tested pair by pair
  runs.csv, cells.json       every run directory (its cell, or why not) and each cell's full settings
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pixeldcn.report.grouping import Selection
from pixeldcn.report.runs import collect
from pixeldcn.report.tables import write_tables

MAX_LISTED = 40  # left-out runs printed; runs.csv has them all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="*", type=Path, default=[Path("outputs")], help="run or sweep directories")
    parser.add_argument("--out", type=Path, default=Path("outputs/tables"))
    parser.add_argument("--experiment", nargs="+", metavar="NAME", help="only these experiments ('None': ad hoc runs)")
    parser.add_argument("--dataset", nargs="+", metavar="NAME", help="only these datasets")
    parser.add_argument("--model", nargs="+", metavar="NAME", help="only these models")
    parser.add_argument("--include-debug", action="store_true", help="include debug=smoke (and other debug) runs")
    parser.add_argument("--include-eval", action="store_true", help="include mode=eval runs, in cells of their own")
    parser.add_argument("--with-paper-rows", action="store_true", help="also show the paper's rows nobody ran")
    args = parser.parse_args(argv)

    missing = [str(root) for root in args.roots if not root.is_dir()]
    if missing:
        print(f"error: no such directory: {', '.join(missing)} (pass run or sweep directories)", file=sys.stderr)
        return 1
    selection = Selection(
        experiments=args.experiment,
        datasets=args.dataset,
        models=args.model,
        include_debug=args.include_debug,
        include_eval=args.include_eval,
    )
    collection = collect(args.roots, exclude=[args.out])
    report = write_tables(collection, args.out, selection, with_paper_rows=args.with_paper_rows)
    left_out = sorted([*collection.skipped, *report.left_out], key=lambda skipped: str(skipped.run_dir))
    used = sum(len(cell.records) for cell in report.cells)
    total = len(collection.records) + len(collection.skipped)
    print(f"{total} run directories: {used} runs in {len(report.cells)} Table 1 cells, {len(left_out)} left out")
    for skipped in left_out[:MAX_LISTED]:
        print(f"  left out {skipped.run_dir}: {skipped.reason}")
    if len(left_out) > MAX_LISTED:
        print(f"  ... and {len(left_out) - MAX_LISTED} more: every run directory and why is in {args.out / 'runs.csv'}")
    print()
    print((args.out / "table1.md").read_text(encoding="utf-8"))
    print((args.out / "ordering.md").read_text(encoding="utf-8"))
    print(f"wrote {', '.join(sorted(report.written))} in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
