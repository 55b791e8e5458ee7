"""Samples of finished generation runs side by side, each with its checkerboard score (paper Fig. 9).

A generation run directory (``python train.py model=vae ...``) holds what this module reads:

* ``images/samples.png``: the sample grid of the evaluated checkpoint, and
  ``images/samples_zoom.png`` (the adversarial VAE's enlarged crops) when the run has one;
* ``metrics.json``: ``final.checkerboard_samples`` and ``final.checkerboard_real``, and the
  up-sampler the decoder was built with (its ``run`` record's ``upsampler`` choice, or Hydra's
  ``runtime.choices`` in ``.hydra/hydra.yaml`` when the record lacks it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from omegaconf import OmegaConf
from PIL import Image

from ..run_files import HYDRA_FILE, IMAGES_DIR, METRICS_FILE
from ..utils.io import atomic_write

SAMPLES_FILE = f"{IMAGES_DIR}/samples.png"
ZOOM_FILE = f"{IMAGES_DIR}/samples_zoom.png"
PANEL_INCHES = 4.0
DPI = 150


@dataclass
class RunSamples:
    """One run's sample grid and what labels it.

    Attributes:
        run_dir: the run directory.
        upsampler: the decoder's up-sampler, its registry name.
        checkerboard: checkerboard score of the run's samples (``None`` if not in ``metrics.json``).
        reference: checkerboard score of the real evaluation images (``None`` if absent).
        image: the sample grid, ``H x W x 3`` uint8.
        grid_energy: the samples' power at the last 2x layer's grid frequencies (``None`` if absent).
        zoom: the enlarged crops of the samples, ``H x W x 3`` uint8 (``None`` if the run has none).
    """

    run_dir: Path
    upsampler: str
    checkerboard: float | None
    reference: float | None
    image: np.ndarray
    grid_energy: float | None = None
    zoom: np.ndarray | None = None

    @property
    def label(self) -> str:
        score = "n/a" if self.checkerboard is None else f"{self.checkerboard:.3g}"
        grid = "" if self.grid_energy is None else f", grid energy {self.grid_energy:.2g}"
        return f"{self.upsampler}\ncheckerboard score {score}{grid}"


def load_run_samples(run_dir: str | os.PathLike[str]) -> RunSamples:
    """Read a finished generation run (see the module doc).

    Raises:
        FileNotFoundError: ``run_dir`` is not a directory, lacks one of the two files, or does not
            record its up-sampler; the message names what is missing.
    """
    run_dir = Path(run_dir)
    absent = [run_dir / name for name in (SAMPLES_FILE, METRICS_FILE) if not (run_dir / name).is_file()]
    if absent:
        problem = f"{run_dir} is not a directory" if not run_dir.is_dir() else f"{absent[0]} is missing"
        raise FileNotFoundError(
            f"{problem}: pass the directories of finished generation runs (python train.py model=vae ...), "
            f"which hold {SAMPLES_FILE} and {METRICS_FILE}"
        )
    metrics = json.loads((run_dir / METRICS_FILE).read_text(encoding="utf-8"))
    upsampler = (metrics.get("run") or {}).get("upsampler") or _hydra_choice(run_dir, "upsampler")
    if upsampler is None:
        raise FileNotFoundError(
            f"{run_dir} does not record its up-sampler (neither {METRICS_FILE}'s run entry nor {HYDRA_FILE} "
            "names it; a hydra.compose run from Python?): rerun it with train.py"
        )
    final = metrics.get("final") or {}
    with Image.open(run_dir / SAMPLES_FILE) as picture:
        image = np.asarray(picture.convert("RGB"))
    zoom = None
    if (run_dir / ZOOM_FILE).is_file():
        with Image.open(run_dir / ZOOM_FILE) as picture:
            zoom = np.asarray(picture.convert("RGB"))
    return RunSamples(
        run_dir=run_dir,
        upsampler=str(upsampler),
        checkerboard=final.get("checkerboard_samples"),
        reference=final.get("checkerboard_real"),
        image=image,
        grid_energy=final.get("grid_energy_samples"),
        zoom=zoom,
    )


def _hydra_choice(run_dir: Path, group: str) -> str | None:
    path = run_dir / HYDRA_FILE
    return OmegaConf.select(OmegaConf.load(path), f"hydra.runtime.choices.{group}") if path.is_file() else None


def compare_samples(
    run_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], title: str | None = None
) -> Path:
    """Draw the sample grids of ``run_dirs`` in one row of panels and write the figure as PNG to ``out``.

    Each panel is titled with its up-sampler and checkerboard score (and grid energy). When every run
    has enlarged crops (``samples_zoom.png``), a second row shows them, as Fig. 9's close-ups do. The
    figure's title is ``title`` followed by the score of the real images when every run reports the
    same one (the runs evaluated the same images). Written atomically; returns ``out``.
    """
    if not run_dirs:
        raise ValueError("compare_samples needs at least one run directory")
    runs = [load_run_samples(run_dir) for run_dir in run_dirs]
    zoomed = all(run.zoom is not None for run in runs)
    # Each row as tall as its pictures are at the panels' width (the crops are one strip).
    heights = [max(run.image.shape[0] / run.image.shape[1] for run in runs)]
    if zoomed:
        heights.append(max(run.zoom.shape[0] / run.zoom.shape[1] for run in runs))
    size = (PANEL_INCHES * len(runs), PANEL_INCHES * sum(heights) + 0.8 * len(heights))
    figure = Figure(figsize=size, layout="constrained")
    panels = figure.subplots(len(heights), len(runs), squeeze=False, height_ratios=heights)
    for column, run in enumerate(runs):
        panels[0][column].imshow(run.image, interpolation="nearest")
        panels[0][column].set_title(run.label, fontsize=11)
        if zoomed:
            panels[1][column].imshow(run.zoom, interpolation="nearest")
            panels[1][column].set_title("top-left crops, enlarged 4x", fontsize=9)
    for axes in panels.flat:
        axes.set_axis_off()
    references = {run.reference for run in runs}
    heading = [title] if title else []
    if len(references) == 1 and None not in references:
        heading.append(f"real images: checkerboard score {references.pop():.3g}")
    if heading:
        figure.suptitle("\n".join(heading), fontsize=12)
    return atomic_write(out, lambda handle: figure.savefig(handle, format="png", dpi=DPI))
