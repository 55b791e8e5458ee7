"""Benchmarks that time layers and models against the deconvolution baselines in one process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pixeldcn.utils.io import atomic_write_json, atomic_write_text


def save_report(out_dir: Path, name: str, report: dict[str, Any], table: str) -> Path:
    """Write ``report`` as ``<out_dir>/<name>_<time>.json`` and ``table`` beside it as ``.md``, and
    print the table and both paths; returns the path without its suffix. A report of the same name
    and second already there is kept: the new one takes the next free ``_<time>-<k>``."""
    base = out_dir / f"{name}_{time.strftime('%Y%m%d-%H%M%S')}"
    stem, copy = base, 1
    while stem.with_suffix(".json").exists() or stem.with_suffix(".md").exists():
        copy += 1
        stem = base.with_name(f"{base.name}-{copy}")
    atomic_write_json(stem.with_suffix(".json"), report)
    atomic_write_text(stem.with_suffix(".md"), table)
    print(table)
    print(f"wrote {stem}.json and {stem}.md")
    return stem
