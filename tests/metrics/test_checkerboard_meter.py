"""CheckerboardMeter: the checkerboard score of many batches, as if computed on all images at once."""

from __future__ import annotations

import math

import pytest
import torch

from pixeldcn.metrics import checkerboard_score
from pixeldcn.metrics.checkerboard import CheckerboardMeter


def test_meter_sums_the_variance_of_every_image_and_channel_by_hand():
    # Channel 1: values 0, 2, 0, 2 (mean 1, variance 1); channel 2 flat (variance 0); image 2: 0, 0, 0, 4 (variance 3).
    images = torch.tensor(
        [
            [[[0.0, 2.0], [0.0, 2.0]], [[5.0, 5.0], [5.0, 5.0]]],
            [[[0.0, 0.0], [0.0, 4.0]], [[1.0, 1.0], [1.0, 1.0]]],
        ]
    )
    meter = CheckerboardMeter()
    meter.update(images)
    assert meter.variance == pytest.approx(1.0 + 0.0 + 3.0 + 0.0) and meter.count == 2


def test_meter_over_batches_equals_the_score_of_all_images():
    generator = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0, 1, 16)
    smooth = torch.rand(6, 3, 1, 1, generator=generator) + ramp.view(1, 1, 1, 16) + ramp.view(1, 1, 16, 1) ** 2
    checker = ((torch.arange(16).view(16, 1) + torch.arange(16)) % 2).float()
    # Batches with very different amounts of artefact and of variance.
    batches = [smooth[:2], smooth[2:5] + 0.5 * checker, torch.rand(3, 3, 16, 16, generator=generator), smooth[5:]]
    meter = CheckerboardMeter()
    for batch in batches:
        meter.update(batch)
    expected = checkerboard_score(torch.cat(batches))
    assert meter.count == 9
    assert meter.compute() == pytest.approx(expected, rel=1e-12)
    # ...which is not the mean of the per-batch scores.
    assert not math.isclose(expected, sum(checkerboard_score(b) for b in batches) / len(batches), rel_tol=0.05)


def test_meter_passes_the_cell_size_on():
    images = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    meter = CheckerboardMeter(cell=4)
    meter.update(images)
    assert meter.compute() == pytest.approx(checkerboard_score(images, cell=4), rel=1e-12)
    assert meter.compute() != pytest.approx(checkerboard_score(images, cell=8), rel=1e-3)


def test_flat_images_score_zero_and_an_empty_meter_refuses():
    meter = CheckerboardMeter()
    with pytest.raises(ValueError, match="before any update"):
        meter.compute()
    meter.update(torch.full((2, 3, 8, 8), 0.3))
    assert meter.compute() == 0.0
