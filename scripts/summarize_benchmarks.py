"""Repeated runs of scripts/benchmark.py read together: each target ratio in every run, and a verdict.

    python scripts/summarize_benchmarks.py outputs/bench/unet_cpu_w64_s256_b1_p32_*.json
    python scripts/summarize_benchmarks.py results/benchmark_2026-12-03_zen3_s31/unet --out summary.md
    python scripts/summarize_benchmarks.py runs/ --target pixeldcl/deconv6=0.97 --target ipixeldcl/deconv6=1.27

Per run and mode a target is met when the ratio of medians and the paired per-round median are both
at most the limit, and resolved when the median's 95 % interval is too; a verdict needs --min-runs
runs (default 3) of at least --min-iters rounds (default 10), and runs the benchmark flagged busy or
unsteady are marked. The default targets
are step 8's for U-Net width 64 at 256x256, batch 1 (pixeldcn.benchmark.across_runs.DEFAULT_TARGETS).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pixeldcn.benchmark import across_runs
from pixeldcn.utils.io import atomic_write_text


def target(text: str) -> across_runs.Target:
    try:
        return across_runs.parse_target(text)
    except ValueError as error:  # argparse shows an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", type=Path, help="JSON reports of scripts/benchmark.py, or their folders")
    parser.add_argument(
        "--target", action="append", type=target, metavar="NAME/BASELINE=LIMIT",
        help="a ratio and its limit (repeatable; default: step 8's three)",
    )  # fmt: skip
    parser.add_argument("--min-runs", type=int, default=3, help="runs needed for a verdict")
    parser.add_argument("--min-iters", type=int, default=10, help="timed rounds a run needs to count")
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown here")
    args = parser.parse_args(argv)
    try:
        paths = across_runs.report_paths(args.reports)
        summary = across_runs.judge(paths, args.target or across_runs.DEFAULT_TARGETS, args.min_runs, args.min_iters)
    except (OSError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")
    markdown = across_runs.to_markdown(summary)
    print(markdown, end="")
    if args.out is not None:
        atomic_write_text(args.out, markdown)
        print(f"wrote {args.out}")
    return markdown


if __name__ == "__main__":
    main()
