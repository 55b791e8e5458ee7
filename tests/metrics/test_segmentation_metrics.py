import math
from fractions import Fraction

import pytest
import torch

from pixeldcn.metrics import ConfusionMatrix

# A 2 x 4 label map with one ignored pixel, used by several tests.
#   target  0 0 1 1      pred  0 1 1 1
#           2 2 . 1            2 0 0 2     (. = 255, ignored)
# Counted (target, pred) pairs: (0,0) (0,1) (1,1) (1,1) (2,2) (2,0) (1,2); rows target, cols pred:
#            p=0 p=1 p=2   | row sum (TP+FN)
#   t=0       1   1   0    | 2
#   t=1       0   2   1    | 3
#   t=2       1   0   1    | 2
#   col sum   2   3   2      (TP+FP)
# IoU_c = TP / (row + col - TP): 1/3, 2/4, 1/3 -> mean 7/18. Accuracy TP/row: 1/2, 2/3, 1/2 -> mean 5/9.
# Pixel accuracy: trace / total = 4/7.
TARGET = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 1]])
PRED = torch.tensor([[0, 1, 1, 1], [2, 0, 0, 2]])
EXPECTED_MATRIX = [[1, 1, 0], [0, 2, 1], [1, 0, 1]]


def _as_floats(fractions):
    return [float(fraction) for fraction in fractions]


def test_hand_computed_matrix_and_metrics():
    confusion = ConfusionMatrix(num_classes=3)
    confusion.update(PRED, TARGET)

    assert confusion.matrix.tolist() == EXPECTED_MATRIX
    metrics = confusion.compute()
    assert metrics["pixel_acc"] == pytest.approx(float(Fraction(4, 7)))
    assert metrics["per_class_iou"] == pytest.approx(_as_floats([Fraction(1, 3), Fraction(1, 2), Fraction(1, 3)]))
    assert metrics["mean_iou"] == pytest.approx(float(Fraction(7, 18)))
    assert metrics["per_class_acc"] == pytest.approx(_as_floats([Fraction(1, 2), Fraction(2, 3), Fraction(1, 2)]))
    assert metrics["mean_class_acc"] == pytest.approx(float(Fraction(5, 9)))
    assert all(type(value) is float for key, value in metrics.items() if not key.startswith("per_class"))
    assert all(type(value) is float for value in metrics["per_class_iou"] + metrics["per_class_acc"])


def test_class_absent_from_prediction_and_target_is_left_out_of_the_means():
    confusion = ConfusionMatrix(num_classes=5)
    confusion.update(PRED, TARGET)

    metrics = confusion.compute()
    assert math.isnan(metrics["per_class_iou"][3]) and math.isnan(metrics["per_class_iou"][4])
    assert math.isnan(metrics["per_class_acc"][3]) and math.isnan(metrics["per_class_acc"][4])
    assert metrics["mean_iou"] == pytest.approx(float(Fraction(7, 18)))
    assert metrics["mean_class_acc"] == pytest.approx(float(Fraction(5, 9)))


def test_class_only_predicted_counts_for_iou_but_not_for_class_accuracy():
    # target 0 0 1, pred 0 2 1: class 2 is a false positive only.
    # IoU: 1/(2+1-1) = 1/2, 1/1 = 1, 0/(0+1-0) = 0 -> mean 1/2.
    # Accuracy: 1/2, 1, nan (class 2 not in target) -> mean 3/4.
    confusion = ConfusionMatrix(num_classes=3)
    confusion.update(torch.tensor([0, 2, 1]), torch.tensor([0, 0, 1]))

    metrics = confusion.compute()
    assert metrics["per_class_iou"] == pytest.approx([0.5, 1.0, 0.0])
    assert metrics["mean_iou"] == pytest.approx(0.5)
    assert metrics["per_class_acc"][:2] == pytest.approx([0.5, 1.0])
    assert math.isnan(metrics["per_class_acc"][2])
    assert metrics["mean_class_acc"] == pytest.approx(0.75)
    assert metrics["pixel_acc"] == pytest.approx(2 / 3)


def test_ignored_pixels_are_not_counted_whatever_is_predicted_there():
    target = torch.tensor([255, 255, 0, 1])
    confusion = ConfusionMatrix(num_classes=2)
    # A prediction outside the class range at an ignored pixel is not an error: nothing is counted there.
    confusion.update(torch.tensor([1, 7, 0, 1]), target)

    assert confusion.matrix.tolist() == [[1, 0], [0, 1]]
    assert confusion.compute()["pixel_acc"] == 1.0


def test_custom_ignore_index():
    confusion = ConfusionMatrix(num_classes=2, ignore_index=-1)
    confusion.update(torch.tensor([0, 1, 1]), torch.tensor([-1, 1, 0]))

    assert confusion.matrix.tolist() == [[0, 1], [0, 1]]


def test_empty_matrix_gives_nan_not_an_error():
    metrics = ConfusionMatrix(num_classes=3).compute()

    assert math.isnan(metrics["pixel_acc"]) and math.isnan(metrics["mean_iou"])
    assert math.isnan(metrics["mean_class_acc"])
    assert all(math.isnan(value) for value in metrics["per_class_iou"] + metrics["per_class_acc"])


def test_all_pixels_ignored_gives_nan():
    confusion = ConfusionMatrix(num_classes=3)
    confusion.update(torch.zeros(2, 2, dtype=torch.long), torch.full((2, 2), 255))

    assert confusion.matrix.sum() == 0
    assert math.isnan(confusion.compute()["mean_iou"])


def _random_batch(generator, num_classes, shape):
    target = torch.randint(0, num_classes, shape, generator=generator)
    target[torch.rand(shape, generator=generator) < 0.1] = 255
    pred = torch.randint(0, num_classes, shape, generator=generator)
    return pred, target


def test_matrix_matches_an_independent_count():
    generator = torch.Generator().manual_seed(0)
    pred, target = _random_batch(generator, 6, (3, 17, 23))
    confusion = ConfusionMatrix(num_classes=6)
    confusion.update(pred, target)

    expected = [[0] * 6 for _ in range(6)]
    for t, p in zip(target.flatten().tolist(), pred.flatten().tolist()):
        if t != 255:
            expected[t][p] += 1
    assert confusion.matrix.tolist() == expected


def test_merging_two_workers_equals_one_update_on_all_the_data():
    generator = torch.Generator().manual_seed(1)
    first = _random_batch(generator, 5, (2, 9, 11))
    second = _random_batch(generator, 5, (3, 9, 11))
    together = ConfusionMatrix(num_classes=5)
    together.update(torch.cat([first[0], second[0]]), torch.cat([first[1], second[1]]))

    worker_a, worker_b, worker_c = (ConfusionMatrix(num_classes=5) for _ in range(3))
    worker_a.update(*first)
    worker_b.update(*second)
    worker_c.update(*first)
    merged = worker_a.merge(worker_b)
    worker_c += worker_b

    assert merged is worker_a
    assert torch.equal(worker_a.matrix, together.matrix)
    assert torch.equal(worker_c.matrix, together.matrix)
    assert worker_a.compute() == together.compute()


def test_updates_accumulate_and_reset_clears():
    confusion = ConfusionMatrix(num_classes=3)
    confusion.update(PRED, TARGET)
    confusion.update(PRED, TARGET)
    assert confusion.matrix.tolist() == [[2 * count for count in row] for row in EXPECTED_MATRIX]

    confusion.reset()
    assert confusion.matrix.tolist() == [[0] * 3] * 3


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.int64])
def test_integer_dtypes_count_into_an_int64_matrix(dtype):
    # The flat index target * 200 + pred = 599 would overflow uint8 if computed in the input dtype.
    target = torch.full((4,), 2, dtype=dtype)
    confusion = ConfusionMatrix(num_classes=200)
    confusion.update(torch.tensor([199, 2, 0, 2], dtype=dtype), target)

    assert confusion.matrix.dtype == torch.int64
    assert confusion.matrix[2].tolist() == [1, 0, 2] + [0] * 196 + [1]


def test_matrix_lives_on_the_requested_device():
    confusion = ConfusionMatrix(num_classes=3, device="cpu")
    confusion.update(PRED, TARGET)

    assert confusion.matrix.device == torch.device("cpu")
    assert confusion.matrix.tolist() == EXPECTED_MATRIX


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_matrix_follows_cuda_inputs_and_merges_across_devices():
    following = ConfusionMatrix(num_classes=3)
    following.update(PRED.cuda(), TARGET.cuda())
    assert following.matrix.device.type == "cuda"
    assert following.matrix.tolist() == EXPECTED_MATRIX

    on_cpu = ConfusionMatrix(num_classes=3, device="cpu")
    on_cpu.update(PRED.cuda(), TARGET.cuda())
    on_cpu += following
    assert on_cpu.matrix.device == torch.device("cpu")
    assert on_cpu.matrix.tolist() == [[2 * count for count in row] for row in EXPECTED_MATRIX]


def test_out_of_range_target_names_the_bad_values():
    confusion = ConfusionMatrix(num_classes=3)
    with pytest.raises(ValueError, match=r"target has values \[-2, 3, 7\]"):
        confusion.update(torch.zeros(5, dtype=torch.long), torch.tensor([0, 3, 7, -2, 3]))
    assert confusion.matrix.sum() == 0


def test_out_of_range_prediction_raises():
    confusion = ConfusionMatrix(num_classes=3)
    with pytest.raises(ValueError, match=r"pred has values \[5\]"):
        confusion.update(torch.tensor([0, 5]), torch.tensor([0, 1]))


def test_bad_inputs_raise():
    confusion = ConfusionMatrix(num_classes=3)
    with pytest.raises(ValueError, match="same shape"):
        confusion.update(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="integer tensor"):
        confusion.update(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="ignore_index=1"):
        ConfusionMatrix(num_classes=3, ignore_index=1)
    with pytest.raises(ValueError, match="cannot merge"):
        confusion.merge(ConfusionMatrix(num_classes=4))
