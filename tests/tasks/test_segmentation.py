"""SegmentationTask against hand-computed losses, metrics, colours and files."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pixeldcn.tasks import IncompatibleDatasetError, SegmentationTask, Task
from pixeldcn.tasks.segmentation import predicted_classes
from tasks.conftest import FixedScores, Labels


def one_hot_scores(predictions: torch.Tensor, num_classes: int = 3) -> torch.Tensor:
    return nn.functional.one_hot(predictions, num_classes).permute(0, 3, 1, 2).float()


def test_task_satisfies_the_protocol_and_sizes_the_model():
    task = SegmentationTask(Labels())
    assert isinstance(task, Task)
    assert task.model_kwargs == {"num_classes": 3}
    assert (task.monitor, task.monitor_mode) == ("mean_iou", "max")


def test_loss_is_cross_entropy_over_labelled_pixels():
    # Pixel 0: scores (0, ln 3, -inf-ish) -> p(cat) = 3/4; pixel 1: (1, 0, 0) labelled dog; pixel 2 ignored.
    scores = torch.tensor([[0.0, math.log(3.0), -100.0], [1.0, 0.0, 0.0], [5.0, 0.0, 0.0]]).T.reshape(1, 3, 1, 3)
    masks = torch.tensor([[[1, 2, 255]]])
    loss, logs = SegmentationTask(Labels()).loss(FixedScores(scores), (torch.zeros(1, 3, 1, 3), masks))
    expected = (math.log(4 / 3) + math.log(math.e + 2)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert logs == {"pixel_acc": 0.5}


def test_evaluation_accumulates_a_confusion_matrix_over_batches():
    task = SegmentationTask(Labels())
    state = task.new_state()
    # targets 0 0 1 1 255 / predictions 0 1 1 1 0, split over two batches.
    for targets, predictions in [([[0, 0, 1]], [[0, 1, 1]]), ([[1, 255, 255]], [[1, 0, 2]])]:
        model = FixedScores(one_hot_scores(torch.tensor([predictions])))
        task.evaluate_batch(model, (torch.zeros(1, 3, 1, 3), torch.tensor([targets])), state)
    summary = task.summarize(state)
    assert summary["pixel_acc"] == pytest.approx(3 / 4)
    assert summary["per_class_iou"][:2] == pytest.approx([1 / 2, 2 / 3])
    assert math.isnan(summary["per_class_iou"][2])
    assert summary["mean_iou"] == pytest.approx(7 / 12)


def test_masks_are_coloured_with_the_palette_and_ignore_is_cream():
    colours = SegmentationTask(Labels()).colorize(torch.tensor([[[0, 1, 2, 255]]]))
    assert colours.shape == (1, 3, 1, 4)
    pixels = (colours[0] * 255).round().to(torch.int64).permute(1, 2, 0)[0].tolist()
    assert pixels == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [224, 224, 192]]


def test_visualization_is_one_grid_of_image_truth_and_prediction():
    task = SegmentationTask(Labels(), num_vis_images=2)
    images = torch.rand(3, 3, 4, 5)
    masks = torch.randint(0, 3, (3, 4, 5))
    predictions = torch.randint(0, 3, (3, 4, 5))
    grid = task.visualize(FixedScores(one_hot_scores(predictions)[:2]), (images, masks))["segmentation"]
    # Rows: images, ground truth, predictions; two columns; 2-pixel padding around each tile.
    assert grid.shape == (3, 3 * (4 + 2) + 2, 2 * (5 + 2) + 2)
    assert torch.equal(grid[:, 2:6, 2:7], images[0])
    assert torch.equal(grid[:, 8:12, 9:14], task.colorize(masks[1:2])[0])
    assert torch.equal(grid[:, 14:18, 2:7], task.colorize(predictions[0:1])[0])


def test_per_class_csv_lists_every_class(tmp_path):
    summary = {"per_class_iou": [0.5, float("nan"), 0.25], "per_class_acc": [1.0, float("nan"), 0.125]}
    SegmentationTask(Labels()).write_artifacts(summary, tmp_path)
    assert (tmp_path / "per_class_iou.csv").read_text().splitlines() == [
        "class_id,class_name,iou,accuracy",
        "0,background,0.500000,1.000000",
        "1,cat,,",
        "2,dog,0.250000,0.125000",
    ]


def test_a_dataset_without_labels_is_refused():
    class Images:
        channels = 3
        image_size = 64

    with pytest.raises(IncompatibleDatasetError, match="needs a labelled dataset.*num_classes, class_names, palette"):
        SegmentationTask(Images())


def test_evaluation_scores_the_checkerboard_of_predicted_probabilities():
    task = SegmentationTask(Labels())
    rows, cols = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    board = ((rows + cols) % 2).float()  # a 2x-grid pattern in the class scores
    ramp = cols.float() / 63  # a smooth boundary between two classes
    results = {}
    for name, pattern in {"board": board, "ramp": ramp}.items():
        scores = torch.stack([4 * pattern, 4 * (1 - pattern), torch.zeros_like(pattern)])[None]
        state = task.new_state()
        task.evaluate_batch(
            FixedScores(scores), (torch.zeros(1, 3, 64, 64), torch.zeros(1, 64, 64, dtype=torch.long)), state
        )
        results[name] = task.summarize(state)["checkerboard"]
    assert results["board"] > 0.9 and results["ramp"] < 0.01


def test_predicted_classes_match_argmax_and_keep_the_first_class_on_a_tie():
    scores = torch.randn(2, 5, 3, 4, generator=torch.Generator().manual_seed(0))
    scores[0, :, 0, 0] = torch.tensor([0.5, 2.0, 2.0, -1.0, 2.0])
    scores[1, :, 2, 3] = 7.0
    assert torch.equal(predicted_classes(scores), scores.argmax(dim=1))
    assert predicted_classes(scores)[0, 0, 0] == 1 and predicted_classes(scores)[1, 2, 3] == 0
