"""The per-class table and the saved confusion matrix against an independently counted tiny case."""

from __future__ import annotations

import csv
import logging

import numpy as np
import torch
from PIL import Image
from torch import nn

from pixeldcn.tasks import SegmentationTask
from pixeldcn.tasks.segmentation_report import per_class_table, row_normalized
from tasks.conftest import FixedScores, Labels


def test_the_saved_confusion_matrix_counts_every_labelled_pixel(tmp_path, caplog):
    generator = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 3, (2, 5, 6), generator=generator)
    targets[0, 0, :3] = 255  # ignored
    targets[targets == 2] = 1  # "dog" never occurs: its IoU is undefined
    predictions = torch.randint(0, 3, (2, 5, 6), generator=generator)
    task = SegmentationTask(Labels())
    state = task.new_state()
    for index in range(2):  # one image per batch
        scores = nn.functional.one_hot(predictions[index : index + 1], 3).permute(0, 3, 1, 2).float()
        task.evaluate_batch(FixedScores(scores), (torch.zeros(1, 3, 5, 6), targets[index : index + 1]), state)
    summary = task.summarize(state)
    with caplog.at_level(logging.INFO, logger="pixeldcn.tasks.segmentation"):
        task.write_artifacts(summary, tmp_path)

    expected = np.zeros((3, 3), dtype=np.int64)
    for truth, predicted in zip(targets.flatten().tolist(), predictions.flatten().tolist()):
        if truth != 255:
            expected[truth, predicted] += 1
    saved = np.load(tmp_path / "confusion_matrix.npy")
    assert saved.dtype == np.int64
    np.testing.assert_array_equal(saved, expected)
    with open(tmp_path / "confusion_matrix.csv", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["truth \\ prediction", "background", "cat", "dog"]
    assert [row[0] for row in rows[1:]] == ["background", "cat", "dog"]
    np.testing.assert_array_equal(np.array([row[1:] for row in rows[1:]], dtype=np.int64), expected)
    with Image.open(tmp_path / "confusion_matrix.png") as heat_map:
        assert heat_map.format == "PNG" and min(heat_map.size) >= 300

    # The logged table: IoU = TP / (TP + FP + FN), accuracy = TP / row sum, in percent; dog has no pixels.
    tp = np.diag(expected)
    iou = tp / (expected.sum(0) + expected.sum(1) - tp)
    accuracy = tp / expected.sum(1).clip(min=1)
    logged = caplog.text
    assert f"| background | {100 * iou[0]:6.2f} | {100 * accuracy[0]:6.2f} |" in logged
    assert f"| cat        | {100 * iou[1]:6.2f} | {100 * accuracy[1]:6.2f} |" in logged
    assert expected[:, 2].sum() > 0  # predicted though absent: IoU 0, accuracy undefined
    assert "| dog        |   0.00 |      - |" in logged


def test_row_normalisation_and_the_table_of_an_absent_class():
    matrix = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    np.testing.assert_allclose(row_normalized(matrix), [[0.75, 0.25, 0], [0, 0, 0], [0.25, 0.25, 0.5]])
    table = per_class_table(["a", "long name", "c"], [0.5, float("nan"), None], [1.0, float("nan"), 0.125])
    assert table.splitlines()[1] == "| class     |    IoU |    Acc |"
    assert "| a         |  50.00 | 100.00 |" in table and "| long name |      - |      - |" in table
    assert "| c         |      - |  12.50 |" in table
