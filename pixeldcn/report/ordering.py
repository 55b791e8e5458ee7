"""The paper's claims on Table 1 tested as pairs of cells: ``ordering.md`` and ``comparisons.csv``.

The paper reports PixelDCL >= iPixelDCL >= DCL in pixel accuracy and mean IoU; every pair of that
chain is tested directly (PixelDCL vs DCL too), within each setting (the same experiment and
result-changing settings, see :mod:`.grouping`), on every claimed metric (:mod:`.metric_names`).
The paper's DCL is our ``deconv6``; the authors' released 3x3 ``deconv`` is compared as well when
it was run. The statistics are :mod:`.stats`'s (paired by seed when the cells share seeds).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from typing import Any

from .grouping import Cell
from .metric_names import Metric
from .stats import MIN_RUNS, NOT_ENOUGH, Comparison, compare, welch

CLAIMS = (
    ("pixeldcl", "ipixeldcl", "paper"),
    ("ipixeldcl", "deconv6", "paper"),
    ("pixeldcl", "deconv6", "paper"),
    ("pixeldcl", "deconv", "released DCL"),
    ("ipixeldcl", "deconv", "released DCL"),
)
"""(stronger, weaker, source): "paper" for the claims of its Table 1 (DCL = deconv6), "released
DCL" for the same claims against the 3x3 deconvolution of the authors' code."""


def _compare(a: Cell, b: Cell, metric: str) -> Comparison:
    if a.paired_by_seed and b.paired_by_seed:
        return compare(a.values(metric), b.values(metric))
    return welch(a.samples(metric), b.samples(metric))


def comparisons(cells: Sequence[Cell], metrics: Sequence[Metric]) -> list[dict[str, Any]]:
    """One row per setting x claim x claimed metric whose two cells were both run."""
    by_setting: dict[str, dict[str, list[Cell]]] = {}
    for cell in cells:
        by_setting.setdefault(cell.setting, {}).setdefault(cell.upsampler, []).append(cell)
    rows = []
    for setting, layers in sorted(by_setting.items()):
        for stronger, weaker, source in CLAIMS:
            pairs = [(a, b) for a in layers.get(stronger, []) for b in layers.get(weaker, [])]
            for (a, b), metric in itertools.product(pairs, metrics):
                if not metric.claimed or not a.samples(metric.key) or not b.samples(metric.key):
                    continue
                result = _compare(a, b, metric.key)
                rows.append(
                    {
                        "dataset": a.dataset, "model": a.model, "setting": setting, "metric": metric.key,
                        "claim": f"{a.layer} >= {b.layer}", "source": source, "design": result.design,
                        "n_a": result.n_a, "n_b": result.n_b,
                        "mean_a": statistics.fmean(a.samples(metric.key)),
                        "mean_b": statistics.fmean(b.samples(metric.key)),
                        "difference": result.difference, "stderr": result.stderr, "df": result.df,
                        "ci_low": result.ci_low, "ci_high": result.ci_high, "p_value": result.p_value,
                        "min_detectable": result.min_detectable, "verdict": result.verdict, "note": result.note,
                    }
                )  # fmt: skip
    return rows


def _signed(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:+.{digits}f}"


def ordering_markdown(rows: Sequence[dict[str, Any]], metric_names: dict[str, str]) -> str:
    """``ordering.md``: the design, then one table per setting."""
    lines = [
        "# Does the paper's ordering hold? (PixelDCL >= iPixelDCL >= DCL)",
        "",
        'Each claim "A >= B" is tested within one setting (the same experiment and result-changing settings; '
        "see table1.md) on each metric. Runs of A and B that share seeds are compared as pairs (paired t test "
        "on the per-seed differences); cells without a common seed by Welch's t test (Welch–Satterthwaite df). "
        "*difference* is mean(A) - mean(B), with its two-sided 95 % confidence interval (t quantiles) and a "
        "two-sided p-value; *min. detectable* is the smallest true difference this design detects with 80 % "
        "power at alpha 0.05 given the measured spread. Verdict: *holds* when the interval lies above 0, "
        "*reversed* when below, *inconclusive* when it contains 0; "
        f"*{NOT_ENOUGH}* (no interval, no verdict) with fewer than {MIN_RUNS} runs per side or zero spread. "
        "The paper's DCL is deconv6; deconv is the authors' released 3x3 DCL.",
        "",
    ]
    if not rows:
        lines.append("No setting has two of pixeldcl, ipixeldcl, deconv6 and deconv with results to compare.")
        return "\n".join(lines) + "\n"
    header = "| claim | metric | design | runs | difference | 95 % CI | p | min. detectable | verdict |"
    current = None
    for row in rows:
        heading = (row["dataset"], row["model"], row["setting"])
        if heading != current:
            current = heading
            lines += ["", f"## {row['dataset']} / {row['model']}, setting {row['setting']}", "", header,
                      "|---|---|---|---|---:|---|---:|---:|---|"]  # fmt: skip
        ci = "—" if row["ci_low"] is None else f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}]"
        p_value = "—" if row["p_value"] is None else f"{row['p_value']:.3g}"
        detectable = "—" if row["min_detectable"] is None else f"{row['min_detectable']:.4f}"
        runs = (
            f"{row['n_a']} pair{'s' * (row['n_a'] != 1)}"
            if row["design"] == "paired"
            else f"{row['n_a']} vs {row['n_b']}"
        )
        verdict = row["verdict"] + (f" ({row['note']})" if row["note"] else "")
        claim = row["claim"] + (" (released DCL)" if row["source"] != "paper" else "")
        lines.append(
            f"| {claim} | {metric_names.get(row['metric'], row['metric'])} | {row['design']} | {runs} "
            f"| {_signed(row['difference'])} | {ci} | {p_value} | {detectable} | {verdict} |"
        )
    return "\n".join(lines) + "\n"
