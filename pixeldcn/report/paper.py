"""The paper's reported numbers (``paper_numbers.yaml``, with their sources), as plain Python data."""

from __future__ import annotations

from pathlib import Path

import yaml

_NUMBERS = yaml.safe_load((Path(__file__).with_name("paper_numbers.yaml")).read_text(encoding="utf-8"))

PAPER_TABLE1: list[dict] = _NUMBERS["table1"]
"""Rows ``{source, dataset, model, upsampler, pixel_acc, mean_iou}``; sources ``arxiv_v4`` and ``nips``."""


def _table2() -> dict:
    table = dict(_NUMBERS["table2"])
    base = next(r for r in table["rows"] if r["upsampler"] == "deconv6")
    table["rows"] = [
        {
            **row,
            "train_ratio": row["train_seconds"] / base["train_seconds"],
            "predict_ratio": row["predict_seconds"] / base["predict_seconds"],
        }
        for row in table["rows"]
    ]
    table["summary"] = ", ".join(
        f"{r['upsampler']} {r['train_seconds'] // 60}m{r['train_seconds'] % 60:02d}s / "
        f"{r['predict_seconds'] // 60}m{r['predict_seconds'] % 60:02d}s"
        for r in table["rows"]
    )
    return table


PAPER_TABLE2: dict = _table2()
"""Table 2 with ``train_ratio``/``predict_ratio`` to the paper's DCL (our ``deconv6``) added."""


def paper_table1(source: str, dataset: str, model: str, upsampler: str) -> dict | None:
    """The paper's Table 1 row, or None where the paper has no such row."""
    for row in PAPER_TABLE1:
        if (row["source"], row["dataset"], row["model"], row["upsampler"]) == (source, dataset, model, upsampler):
            return row
    return None
