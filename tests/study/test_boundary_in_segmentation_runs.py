"""Boundary IoU and trimap accuracy are part of every segmentation evaluation, summed across processes."""

import torch
from torch import nn

from pixeldcn.metrics import BoundaryMeter
from pixeldcn.tasks import SegmentationTask


class _Labels:
    num_classes = 3
    class_names = ["background", "a", "b"]
    palette = [(0, 0, 0), (128, 0, 0), (0, 128, 0)]
    ignore_index = 255


class _Oracle(nn.Module):
    """Scores that put the highest value on the class given in the image's first channel."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(images[:, 0].long(), 3).permute(0, 3, 1, 2).float()


def test_summary_reports_the_boundary_meter_of_the_evaluated_batches():
    task = SegmentationTask(_Labels(), boundary_width=1)
    generator = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 3, (2, 8, 8), generator=generator)
    predicted = torch.where(torch.rand(2, 8, 8, generator=generator) < 0.7, masks, 0)
    state = task.new_state()
    task.evaluate_batch(_Oracle(), (predicted[:, None].expand(-1, 3, -1, -1).float(), masks), state)

    expected = BoundaryMeter(3, width=1)
    expected.update(predicted, masks)
    summary = task.summarize(state)
    for key, value in expected.compute().items():
        assert summary[key] == value
    reduced = task.reduce_state(state, lambda tensor: tensor * 2)
    assert torch.equal(reduced.boundary.union, 2 * expected.union)
    assert torch.equal(reduced.boundary.trimap, 2 * expected.trimap)
