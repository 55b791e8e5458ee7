import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from pixeldcn.metrics import BoundaryMeter, boundary_iou, trimap_accuracy
from pixeldcn.metrics.boundary import boundary_counts, boundary_pixels, default_boundary_width

# A 6 x 6 scene: a 4 x 4 square of class 1 on background 0, predicted one pixel to the right.
#   target            pred
#   0 0 0 0 0 0       0 0 0 0 0 0
#   0 1 1 1 1 0       0 0 1 1 1 1
#   0 1 1 1 1 0       0 0 1 1 1 1
#   0 1 1 1 1 0       0 0 1 1 1 1
#   0 1 1 1 1 0       0 0 1 1 1 1
#   0 0 0 0 0 0       0 0 0 0 0 0
# Width 1, the border a contour (Cheng et al.):
#   class 1, target band: the square's ring, rows 1 and 4 x cols 1-4 and rows 2-3 x cols 1, 4 (12 px);
#            pred band: rows 1 and 4 x cols 2-5 and rows 2-3 x cols 2, 5 (12 px; col 5 lies on the
#            border, which erodes it). Common: rows 1 and 4 x cols 2-4 (6 px). IoU 6 / 18 = 1/3.
#   class 0, target band: the whole 20-px outer ring (all of it is on the border or next to the square);
#            pred band: rows 0, 5, cols 0 and 1 of rows 1-4 (20 px, col 1 touches the square).
#            Common: rows 0 and 5, col 0 (16 px). IoU 16 / 24 = 2/3. Mean 1/2.
# Trimap (border no contour): the square's ring and the outer ring, which are all within 1 of a
#   label change (32 px, everything but the central 2 x 2). Wrong there: col 1 and col 5 of rows
#   1-4 (8 px). Accuracy 24 / 32 = 3/4.
TARGET = torch.zeros(1, 6, 6, dtype=torch.int64)
TARGET[0, 1:5, 1:5] = 1
PRED = torch.zeros(1, 6, 6, dtype=torch.int64)
PRED[0, 1:5, 2:6] = 1


def test_hand_drawn_square_shifted_by_one_pixel():
    assert boundary_iou(PRED, TARGET, num_classes=2, width=1).tolist() == pytest.approx([2 / 3, 1 / 3], abs=1e-12)
    assert trimap_accuracy(PRED, TARGET, num_classes=2, width=1) == pytest.approx(3 / 4, abs=1e-12)

    intersection, union, correct, total = boundary_counts(PRED, TARGET, num_classes=2, width=1)
    assert intersection.tolist() == [16, 6] and union.tolist() == [24, 18]
    assert (correct.item(), total.item()) == (24, 32)


def _band(labels: torch.Tensor, label: int, width: int, border_is_contour: bool) -> torch.Tensor:
    return boundary_pixels(labels, width, border_is_contour) & (labels == label)


def test_hand_drawn_bands_written_out():
    ring = torch.tensor(
        [
            [0, 0, 0, 0, 0, 0],
            [0, 1, 1, 1, 1, 0],
            [0, 1, 0, 0, 1, 0],
            [0, 1, 0, 0, 1, 0],
            [0, 1, 1, 1, 1, 0],
            [0, 0, 0, 0, 0, 0],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(_band(TARGET, 1, 1, border_is_contour=True)[0], ring)
    # Width 2 reaches the centre of a 4 x 4 square: the band is the whole square.
    assert torch.equal(_band(TARGET, 1, 2, border_is_contour=True), TARGET == 1)
    # Background: the outer ring, which touches the square (and the border) everywhere.
    assert torch.equal(_band(TARGET, 0, 1, border_is_contour=False), TARGET == 0)
    # A uniform image has a band along its border only when the border is a contour.
    full = torch.zeros(1, 5, 5, dtype=torch.int64)
    border = torch.ones(1, 5, 5, dtype=torch.bool)
    border[0, 1:4, 1:4] = False
    assert torch.equal(boundary_pixels(full, 1, border_is_contour=True), border)
    assert not boundary_pixels(full, 1, border_is_contour=False).any()


def test_ignored_pixels_are_not_counted_but_end_the_classes_next_to_them():
    # TARGET with its top-left corner ignored: class 0 loses one band pixel on both sides
    # (IoU 15 / 23); the trimap loses one pixel that was predicted right (23 / 31). Class 1 keeps 1/3.
    target = TARGET.clone()
    target[0, 0, 0] = 255

    assert boundary_iou(PRED, target, 2, 1).tolist() == pytest.approx([15 / 23, 1 / 3], abs=1e-12)
    assert trimap_accuracy(PRED, target, 2, 1) == pytest.approx(23 / 31, abs=1e-12)


def test_class_without_band_in_either_map_is_nan_and_left_out_of_the_mean():
    meter = BoundaryMeter(num_classes=4, width=1)
    meter.update(PRED, TARGET)

    metrics = meter.compute()
    assert math.isnan(metrics["per_class_boundary_iou"][2]) and math.isnan(metrics["per_class_boundary_iou"][3])
    assert metrics["boundary_iou"] == pytest.approx(1 / 2, abs=1e-12)
    assert metrics["trimap_acc"] == pytest.approx(3 / 4, abs=1e-12)
    assert metrics["boundary_width"] == 1


def test_uniform_image_has_a_border_band_but_no_trimap():
    flat = torch.zeros(1, 5, 5, dtype=torch.int64)

    intersection, union, _, total = boundary_counts(flat, flat, num_classes=1, width=1)
    assert (intersection.item(), union.item(), total.item()) == (16, 16, 0)
    assert math.isnan(trimap_accuracy(flat, flat, 1, 1))


def _reference_band(mask: np.ndarray, width: int, border_is_contour: bool) -> np.ndarray:
    """Cheng et al.'s mask_to_boundary: ``width`` 3 x 3 erosions, the outside of the image 0 (or 1)."""
    eroded = ndimage.binary_erosion(
        mask, structure=np.ones((3,) * mask.ndim), iterations=width, border_value=0 if border_is_contour else 1
    )
    return mask & ~eroded


@pytest.mark.parametrize("width", [1, 2, 3])
@pytest.mark.parametrize("border_is_contour", [True, False])
@pytest.mark.parametrize("shape", [(9, 13), (5, 7, 6)])
def test_bands_equal_iterated_3x3_erosions_of_each_class_mask(width, border_is_contour, shape):
    generator = np.random.default_rng(width)
    # Blobs, not noise (smoothed noise cut into 3 labels), so erosions of several widths differ.
    smooth = ndimage.uniform_filter(generator.random((2, *shape)), size=(1,) + (3,) * len(shape))
    labels = np.digitize(smooth, np.quantile(smooth, [0.35, 0.7]))

    pixels = boundary_pixels(torch.from_numpy(labels), width, border_is_contour).numpy()
    for label in range(3):
        expected = np.stack([_reference_band(image == label, width, border_is_contour) for image in labels])
        assert np.array_equal(pixels & (labels == label), expected)


def test_meter_counts_do_not_depend_on_batching_and_reduce_by_summing():
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 3, (4, 16, 16), generator=generator)
    pred = torch.where(torch.rand(4, 16, 16, generator=generator) < 0.8, target, 0)
    whole, halves = BoundaryMeter(3, width=2), BoundaryMeter(3, width=2)
    whole.update(pred, target)
    halves.update(pred[:1], target[:1])
    halves.update(pred[1:], target[1:])

    assert torch.equal(whole.intersection, halves.intersection) and torch.equal(whole.union, halves.union)
    assert torch.equal(whole.trimap, halves.trimap)
    doubled = BoundaryMeter(3, width=2)
    doubled.update(pred, target)
    doubled.reduce(lambda tensor: tensor * 2)
    assert torch.equal(doubled.union, 2 * whole.union)
    assert doubled.compute()["boundary_iou"] == pytest.approx(whole.compute()["boundary_iou"], abs=1e-15)


def test_perfect_prediction_scores_one():
    target = torch.randint(0, 3, (2, 12, 12), generator=torch.Generator().manual_seed(1))
    meter = BoundaryMeter(3, width=1)
    meter.update(target, target)

    metrics = meter.compute()
    assert metrics["boundary_iou"] == 1.0 and metrics["trimap_acc"] == 1.0


def test_default_width_is_two_percent_of_the_diagonal():
    # 64 x 64: diagonal 90.5 -> 1.81 -> 2; 128 x 128: 3.62 -> 4; tiny images still get 1 pixel.
    assert default_boundary_width((64, 64)) == 2
    assert default_boundary_width((128, 128)) == 4
    assert default_boundary_width((8, 8)) == 1
    meter = BoundaryMeter(2)
    meter.update(torch.zeros(1, 64, 64, dtype=torch.int64), torch.zeros(1, 64, 64, dtype=torch.int64))
    assert meter.compute()["boundary_width"] == 2


@pytest.mark.parametrize(
    ("pred", "target", "message"),
    [
        (PRED, TARGET[:, :5], "same shape"),
        (PRED.float(), TARGET, "integer"),
        (PRED, TARGET * 3, r"target has values \[3\]"),
        (PRED * 2, TARGET, r"pred has values \[2\]"),
    ],
)
def test_bad_input_is_named(pred, target, message):
    with pytest.raises((ValueError, TypeError), match=message):
        boundary_iou(pred, target, num_classes=2, width=1)


def test_meter_rejects_a_width_below_one():
    with pytest.raises(ValueError, match="at least 1 pixel"):
        BoundaryMeter(2, width=0)
