"""Table 1 (accuracy) and Table 2 (time) from finished runs, each cell beside the paper's value.

Runs of the same dataset x model x up-sampler (e.g. several seeds) are aggregated: accuracy as
mean and sample standard deviation, times as medians. A cell with no run shows ``—``; nothing is
ever filled in that was not measured. The paper's DCL is our ``deconv6`` (the 6x6 kernel its text
states), so the paper's DCL numbers sit beside ``deconv6`` only.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..utils.io import atomic_write_bytes, atomic_write_text
from .paper import PAPER_TABLE1, PAPER_TABLE2, paper_table1
from .runs import RunRecord

MISSING = "—"
SOURCES = ("arxiv_v4", "nips")
# The paper's claim on Table 1, strongest first: PixelDCL >= iPixelDCL >= DCL in mean IoU.
PAPER_ORDER = ("pixeldcl", "ipixeldcl", "deconv6")


def _group(records: Sequence[RunRecord]) -> dict[tuple[str, str, str], list[RunRecord]]:
    groups: dict[tuple[str, str, str], list[RunRecord]] = defaultdict(list)
    for record in records:
        groups[record.key].append(record)
    return groups


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def table1_rows(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One row per dataset x model x up-sampler that was run or that the paper reports."""
    groups = _group([r for r in records if "mean_iou" in r.final])
    keys = set(groups) | {(p["dataset"], p["model"], p["upsampler"]) for p in PAPER_TABLE1}
    rows = []
    for dataset, model, upsampler in sorted(keys):
        runs = groups.get((dataset, model, upsampler), [])
        acc, acc_std = _mean_std([r.final.get("pixel_acc") for r in runs])
        iou, iou_std = _mean_std([r.final.get("mean_iou") for r in runs])
        row = {
            "dataset": dataset, "model": model, "upsampler": upsampler, "runs": len(runs),
            "pixel_acc": acc, "pixel_acc_std": acc_std, "mean_iou": iou, "mean_iou_std": iou_std,
        }  # fmt: skip
        for source in SOURCES:
            paper = paper_table1(source, dataset, model, upsampler) or {}
            row[f"paper_pixel_acc_{source}"] = paper.get("pixel_acc")
            row[f"paper_mean_iou_{source}"] = paper.get("mean_iou")
        rows.append(row)
    return rows


def table2_rows(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """Measured training/prediction times per dataset x model x up-sampler, ratios within each
    dataset x model x device group, and the paper's K40 times beside the paper's layers."""
    groups = _group([r for r in records if r.timing])
    rows = []
    for (dataset, model, upsampler), runs in sorted(groups.items()):
        timing = [r.timing for r in runs]
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "upsampler": upsampler,
                "runs": len(runs),
                "device": timing[0].get("device_name", "?"),
                "train_iteration_s": statistics.median(t["train"]["iteration_s_median"] for t in timing),
                "train_total_s": statistics.median(t["train"]["total_s"] for t in timing),
                "predict_images": timing[0]["predict"]["num_images"],
                "predict_total_s": statistics.median(t["predict"]["total_s"] for t in timing),
                "predict_images_per_s": statistics.median(t["predict"]["images_per_s"] for t in timing),
            }  # fmt: skip
        )
    by_group = {(r["dataset"], r["model"], r["device"], r["upsampler"]): r for r in rows}
    paper = {r["upsampler"]: r for r in PAPER_TABLE2["rows"]}
    for row in rows:
        for base in ("deconv6", "deconv"):
            ref = by_group.get((row["dataset"], row["model"], row["device"], base))
            row[f"train_vs_{base}"] = row["train_iteration_s"] / ref["train_iteration_s"] if ref else None
            row[f"predict_vs_{base}"] = ref["predict_images_per_s"] / row["predict_images_per_s"] if ref else None
        ref = paper.get(row["upsampler"]) if (row["dataset"], row["model"]) == ("voc", "unet") else None
        row["paper_train_s"] = ref["train_seconds"] if ref else None
        row["paper_predict_s"] = ref["predict_seconds"] if ref else None
        row["paper_train_ratio"] = ref["train_ratio"] if ref else None
        row["paper_predict_ratio"] = ref["predict_ratio"] if ref else None
    return rows


def ordering_check(records: Sequence[RunRecord], z: float = 2.0) -> list[dict[str, Any]]:
    """Does the paper's mean-IoU ordering hold beyond seed noise, per dataset x model?

    For each adjacent pair (stronger, weaker) of ``PAPER_ORDER`` the verdict is ``holds`` when the
    difference of means exceeds ``z`` standard errors (Welch: sqrt(s1^2/n1 + s2^2/n2)),
    ``reversed`` when it is below minus that, and ``within noise`` otherwise (also when a layer has
    fewer than two runs, since then there is no noise estimate).
    """
    groups = _group([r for r in records if "mean_iou" in r.final])
    verdicts = []
    for dataset, model in sorted({(d, m) for d, m, _ in groups}):
        for stronger, weaker in zip(PAPER_ORDER, PAPER_ORDER[1:]):
            a = [r.final["mean_iou"] for r in groups.get((dataset, model, stronger), [])]
            b = [r.final["mean_iou"] for r in groups.get((dataset, model, weaker), [])]
            if not a or not b:
                continue
            diff = statistics.fmean(a) - statistics.fmean(b)
            if len(a) > 1 and len(b) > 1:
                stderr = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
                verdict = "holds" if diff > z * stderr else "reversed" if diff < -z * stderr else "within noise"
            else:
                stderr, verdict = None, "within noise"
            verdicts.append(
                {"dataset": dataset, "model": model, "claim": f"{stronger} >= {weaker}",
                 "difference": diff, "stderr": stderr, "runs": (len(a), len(b)), "verdict": verdict}
            )  # fmt: skip
    return verdicts


def _number(value: float | None, digits: int = 4, std: float | None = None) -> str:
    if value is None:
        return MISSING
    return f"{value:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def table1_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["dataset", "model", "up-sampler", "runs", "pixel acc", "paper (arXiv v4)", "paper (NIPS)",
              "mean IoU", "paper (arXiv v4)", "paper (NIPS)"]  # fmt: skip
    body = [
        [
            r["dataset"],
            r["model"],
            r["upsampler"],
            str(r["runs"]),
            _number(r["pixel_acc"], std=r["pixel_acc_std"]),
            _number(r["paper_pixel_acc_arxiv_v4"]),
            _number(r["paper_pixel_acc_nips"]),
            _number(r["mean_iou"], std=r["mean_iou_std"]),
            _number(r["paper_mean_iou_arxiv_v4"]),
            _number(r["paper_mean_iou_nips"]),
        ]  # fmt: skip
        for r in rows
    ]
    return header, body


def table2_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["dataset", "model", "up-sampler", "device", "train s/iter", "training", "prediction", "images/s",
              "train / deconv6", "predict / deconv6", "train / deconv", "predict / deconv",
              "paper training (K40)", "paper prediction (K40)", "paper train / DCL", "paper predict / DCL"]  # fmt: skip
    body = [
        [
            r["dataset"],
            r["model"],
            r["upsampler"],
            r["device"],
            _number(r["train_iteration_s"], 3),
            _minutes(r["train_total_s"]),
            _minutes(r["predict_total_s"]),
            _number(r["predict_images_per_s"], 1),
            _number(r["train_vs_deconv6"], 2),
            _number(r["predict_vs_deconv6"], 2),
            _number(r["train_vs_deconv"], 2),
            _number(r["predict_vs_deconv"], 2),
            _minutes(r["paper_train_s"]),
            _minutes(r["paper_predict_s"]),
            _number(r["paper_train_ratio"], 2),
            _number(r["paper_predict_ratio"], 2),
        ]  # fmt: skip
        for r in rows
    ]
    return header, body


def to_markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def to_latex(header: list[str], body: list[list[str]], caption: str) -> str:
    def escape(text: str) -> str:
        return text.replace("_", r"\_").replace("±", r"$\pm$").replace("—", "--").replace("%", r"\%")

    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{escape(caption)}}}",
             r"\begin{tabular}{" + "l" * 3 + "r" * (len(header) - 3) + "}", r"\hline",
             " & ".join(escape(h) for h in header) + r" \\", r"\hline"]  # fmt: skip
    lines += [" & ".join(escape(c) for c in row) + r" \\" for row in body]
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def bar_chart(rows: list[dict], value: str, paper_value: str | None, title: str, path: Path) -> None:
    """One bar per row (ours), with the paper's value as a hatched bar beside it where it exists."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['dataset']}/{r['model']}\n{r['upsampler']}" for r in rows]
    ours = [r[value] if r[value] is not None else 0.0 for r in rows]
    xs = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows)), 4.0))
    ax.bar([x - 0.2 for x in xs], ours, width=0.4, label="measured")
    if paper_value:
        paper = [r[paper_value] if r[paper_value] is not None else 0.0 for r in rows]
        ax.bar([x + 0.2 for x in xs], paper, width=0.4, hatch="//", alpha=0.6, label="paper")
    ax.set_xticks(list(xs), labels, rotation=45, ha="right", fontsize=7)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def write_tables(records: Sequence[RunRecord], out_dir: str | Path) -> dict[str, Path]:
    """Write table1/table2 as .md, .tex, .csv and a bar chart .png each, plus the ordering check."""
    out_dir = Path(out_dir)
    t1, t2 = table1_rows(records), table2_rows(records)
    written: dict[str, Path] = {}
    for name, rows, cells, caption in (
        ("table1", t1, table1_cells(t1), "Segmentation accuracy, measured beside the paper's Table 1"),
        ("table2", t2, table2_cells(t2), "Training and prediction time, measured beside the paper's Table 2"),
    ):
        written[f"{name}.md"] = atomic_write_text(out_dir / f"{name}.md", to_markdown(*cells))
        written[f"{name}.tex"] = atomic_write_text(out_dir / f"{name}.tex", to_latex(*cells, caption=caption))
        written[f"{name}.csv"] = atomic_write_text(out_dir / f"{name}.csv", to_csv(rows))
    bar_chart(t1, "mean_iou", "paper_mean_iou_arxiv_v4", "Mean IoU (measured vs paper)", out_dir / "table1.png")
    written["table1.png"] = out_dir / "table1.png"
    bar_chart(t2, "train_vs_deconv6", "paper_train_ratio", "Training time / deconv6", out_dir / "table2.png")
    written["table2.png"] = out_dir / "table2.png"
    verdicts = ordering_check(records)
    lines = [
        "| dataset | model | claim | difference | std. error | runs | verdict |",
        "|---|---|---|---:|---:|---|---|",
    ]
    lines += [
        f"| {v['dataset']} | {v['model']} | {v['claim']} | {v['difference']:+.4f} | {_number(v['stderr'])} "
        f"| {v['runs'][0]} vs {v['runs'][1]} | {v['verdict']} |"
        for v in verdicts
    ]
    written["ordering.md"] = atomic_write_text(out_dir / "ordering.md", "\n".join(lines) + "\n")
    return written
