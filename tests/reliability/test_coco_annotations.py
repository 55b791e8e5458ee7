"""A COCO annotation file that cannot be converted stops with one line naming the file and the ids."""

from __future__ import annotations

import json
import re

import pytest
from conftest import QUIET_SMOKE
from data.conftest import write_coco_fixture

from pixeldcn.data import COCOSegmentation
from pixeldcn.data.coco import AnnotationError
from pixeldcn.data.validation import BadSampleError


@pytest.fixture
def coco(tmp_path):
    return write_coco_fixture(tmp_path / "coco")


def edit_annotations(fixture, split: str, edit) -> object:
    """Rewrite ``instances_<split>2017.json`` through ``edit(document)``; return the path."""
    path = fixture.root / "annotations" / f"instances_{split}2017.json"
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))
    return path


def annotation(document, annotation_id: int) -> dict:
    return next(entry for entry in document["annotations"] if entry["id"] == annotation_id)


BROKEN = {
    "no categories": (lambda d: d.pop("categories"), r"no 'categories' list"),
    "no segmentation": (
        lambda d: annotation(d, 2).pop("segmentation"),
        r"annotation id 2 \(image id 1\) has no 'segmentation'",
    ),
    "empty segmentation": (
        lambda d: annotation(d, 4).update(segmentation=[]),
        r"annotation id 4 \(image id 7\) has an empty segmentation list",
    ),
    "unknown category": (
        lambda d: annotation(d, 5).update(category_id=3),
        r"annotation id 5 \(image id 7\) has category_id 3, which 'categories' lacks",
    ),
    "unknown image": (
        lambda d: annotation(d, 1).update(image_id=99),
        r"annotation id 1 has image_id 99, which no usable image entry has",
    ),
    "duplicate image id": (lambda d: d["images"].append(dict(d["images"][0])), r"image ids listed twice: 1"),
    "short polygon": (
        lambda d: annotation(d, 1).update(segmentation=[[1, 1, 5, 5]]),
        r"annotation id 1 \(image id 1\) has a polygon that is not a list of at least 3 x, y pairs",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_annotation_file_is_named_with_the_id_before_any_mask_is_written(coco, case):
    edit, problem = BROKEN[case]
    path = edit_annotations(coco, "val", edit)
    with pytest.raises(AnnotationError) as error:
        COCOSegmentation(coco.root, "val", image_size=16)
    message = str(error.value)
    assert message.startswith(f"COCO annotation file {path}: 1 problem(s): ") and "\n" not in message
    assert re.search(problem, message), message
    assert not (coco.root / "semantic_masks" / "val2017").exists()


def test_a_wrong_image_size_in_the_json_names_the_entry_not_the_cached_mask(coco):
    path = edit_annotations(coco, "val", lambda d: d["images"][1].update(height=10))  # image id 7 is 12 high
    dataset = COCOSegmentation(coco.root, "val", image_size=16)
    dataset[0]  # the other images still read
    with pytest.raises(BadSampleError) as error:
        dataset[1]
    message = str(error.value)
    assert message.startswith(f"{path}: image id 7 has height 10 and width 16, but ") and "\n" not in message
    assert "semantic_masks" not in message


def test_a_run_on_a_broken_annotation_file_stops_in_one_line(run_train, tmp_path, coco):
    edit_annotations(coco, "train", lambda d: annotation(d, 2).pop("segmentation"))
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_train(run_dir, *QUIET_SMOKE, "dataset=coco", f"dataset.root={coco.root}")
    assert exit_info.value.code == 1
    log = (run_dir / "train.log").read_text()
    error_line = next(line for line in log.splitlines() if "ERROR" in line)
    assert "annotation id 2 (image id 1) has no 'segmentation'" in error_line
    assert log.rstrip().endswith(error_line) and "Traceback" not in log
