"""Benchmarks that time layers and models against the deconvolution baselines in one process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pixeldcn.utils.io import atomic_write_json, atomic_write_text


def save_report(out_dir: Path, name: str, report: dict[str, Any], table: str) -> Path:
    """Write ``report`` as ``<out_dir>/<name>_<time>.json`` and ``table`` beside it as ``.md``, and
    print the table and both paths; returns the path without its suffix."""
    stem = out_dir / f"{name}_{time.strftime('%Y%m%d-%H%M%S')}"
    atomic_write_json(stem.with_suffix(".json"), report)
    atomic_write_text(stem.with_suffix(".md"), table)
    print(table)
    print(f"wrote {stem}.json and {stem}.md")
    return stem
