"""Paper-style segmentation figures (Figs. 7 and 8): image, ground truth, one prediction row per run.

Each segmentation run directory holds ``images/segmentation_{input,truth,prediction}.png``: strips
of the first evaluation images, the same images for every run of one dataset configuration. The
figure stacks the input and truth strips of the first run and the prediction strip of every run,
labelled with its up-sampler, mean IoU and the checkerboard score of its predicted probabilities.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from ..run_files import IMAGES_DIR
from ..utils.io import atomic_write_bytes
from .runs import RunRecord, read_run

STRIP = IMAGES_DIR + "/segmentation_{}.png"


def _strip(record: RunRecord, name: str) -> np.ndarray:
    path = record.run_dir / STRIP.format(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {record.run_dir} is not a finished segmentation run")
    return np.asarray(Image.open(path).convert("RGB"))


def _label(record: RunRecord) -> str:
    final = record.final
    checkerboard = final.get("checkerboard")
    score = f"{checkerboard:.3f}" if checkerboard is not None else "—"
    return f"{record.upsampler}: mean IoU {final['mean_iou']:.3f}, checkerboard {score}"


def segmentation_figure(run_dirs: Sequence[str | Path], out: str | Path, title: str | None = None) -> Path:
    """Write the figure for ``run_dirs`` (same dataset and evaluation images) to ``out`` (PNG)."""
    records = []
    for run_dir in run_dirs:
        record = read_run(run_dir)
        if not isinstance(record, RunRecord):
            raise FileNotFoundError(f"{run_dir} is not a finished run: {record.reason}")
        records.append(record)
    datasets = {r.dataset for r in records}
    if len(datasets) != 1:
        raise ValueError(f"runs of different datasets ({', '.join(sorted(datasets))}) do not share images")
    rows = [("image", _strip(records[0], "input")), ("ground truth", _strip(records[0], "truth"))]
    rows += [(_label(r), _strip(r, "prediction")) for r in records]
    width = rows[0][1].shape[1]
    if any(strip.shape[1] != width for _, strip in rows):
        raise ValueError("the runs' strips differ in size: were they evaluated with the same image size and count?")

    width_inches = min(14.0, 1.6 * width / rows[0][1].shape[0] + 1.0)
    height_inches = sum(width_inches * strip.shape[0] / width + 0.35 for _, strip in rows) + 0.4
    figure = Figure(figsize=(width_inches, height_inches), layout="constrained")
    for axes, (label, strip) in zip(figure.subplots(len(rows), 1, squeeze=False)[:, 0], rows):
        axes.imshow(strip, interpolation="nearest")
        axes.set_axis_off()
        axes.set_title(label, loc="left", fontsize=9)
    figure.suptitle(title or f"{records[0].dataset}: segmentation by up-sampler", fontsize=11)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    return atomic_write_bytes(out, buffer.getvalue())
