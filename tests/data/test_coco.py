import contextlib
import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools.coco import COCO

from pixeldcn.data import coco as coco_module
from pixeldcn.data.coco import COCOSegmentation, category_classes, coco_semantic_mask, inspect_layout
from pixeldcn.data.errors import DatasetNotFoundError

from .conftest import write_coco_fixture
from .test_transforms import nearest_reference

# pycocotools' mask decoding predates numpy 2's copy keyword; the warning is theirs.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def load_coco(path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


@pytest.fixture
def coco_api(coco_root) -> COCO:
    return load_coco(coco_root.root / "annotations" / "instances_val2017.json")


def test_category_ids_map_in_ascending_order(coco_api):
    assert category_classes(coco_api) == {1: 1, 5: 2, 90: 3}


def test_polygon_rle_overlap_and_crowd_become_the_hand_computed_mask(coco_api):
    mask = coco_semantic_mask(coco_api, 1)
    assert mask.dtype == np.uint8 and mask.shape == (12, 16)
    # person polygon (category 1 -> class 1) over rows 1-5, cols 1-6
    assert (mask[1:4, 1:7] == 1).all() and (mask[4:6, 1:5] == 1).all()
    # toothbrush compressed RLE (category 90 -> class 3) over rows 4-9, cols 5-11
    assert (mask[6:10, 5:12] == 3).all() and (mask[4:6, 7:12] == 3).all()
    # the two instances overlap in rows 4-5, cols 5-6
    assert (mask[4:6, 5:7] == 255).all()
    # airplane crowd region (uncompressed RLE) over rows 8-10, cols 12-14
    assert (mask[8:11, 12:15] == 255).all()
    expected = np.zeros((12, 16), dtype=np.uint8)
    expected[1:6, 1:7] = 1
    expected[4:10, 5:12] = 3
    expected[4:6, 5:7] = 255
    expected[8:11, 12:15] = 255
    assert np.array_equal(mask, expected)


def test_two_instances_of_one_category_overlapping_are_ignored(coco_api, coco_root):
    mask = coco_semantic_mask(coco_api, 7)
    assert (mask[6:8, 10:14] == 255).all()
    assert (mask[2:6, 2:14] == 2).all() and (mask[8:10, 10:16] == 2).all()
    assert np.array_equal(mask, coco_root.expected[7])


def test_an_image_without_annotations_is_all_background(coco_api):
    assert not coco_semantic_mask(coco_api, 42).any()


def test_dataset_serves_cached_masks_resized(coco_root):
    dataset = COCOSegmentation(root=coco_root.root, split="val", image_size=16)
    assert len(dataset) == 3
    assert dataset.num_classes == 4
    assert dataset.class_names == ["background", "person", "airplane", "toothbrush"]
    assert len(dataset.palette) == 4 and dataset.ignore_index == 255 and dataset.channels == 3
    for index, (image_id, file_name) in enumerate(dataset.samples):
        assert file_name == coco_root.file_names[image_id]
        image, mask = dataset[index]
        assert image.shape == (3, 16, 16) and image.dtype == torch.float32
        assert mask.dtype == torch.int64
        assert np.array_equal(mask.numpy(), nearest_reference(coco_root.expected[image_id], 16, 16))


def test_masks_are_cached_as_pngs_and_reused_without_recomputing(coco_root, monkeypatch):
    COCOSegmentation(root=coco_root.root, split="val")
    cache = coco_root.root / "semantic_masks" / "val2017"
    pngs = sorted(cache.glob("*.png"))
    assert [path.name for path in pngs] == ["1.png", "42.png", "7.png"]
    assert np.array_equal(np.asarray(Image.open(cache / "1.png")), coco_root.expected[1])
    assert not [path for path in cache.iterdir() if path.name.endswith(".tmp")]
    stamps = {path: path.stat().st_mtime_ns for path in pngs}

    def fail(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(coco_module, "COCO", fail)
    monkeypatch.setattr(coco_module, "coco_semantic_mask", fail)
    again = COCOSegmentation(root=coco_root.root, split="val", image_size=12)
    assert again.num_classes == 4 and len(again) == 3
    assert np.array_equal(again[0][1].numpy(), nearest_reference(coco_root.expected[1], 12, 12))
    assert {path: path.stat().st_mtime_ns for path in pngs} == stamps


def test_a_changed_annotation_file_rebuilds_the_cache(coco_root):
    COCOSegmentation(root=coco_root.root, split="val")
    annotations = coco_root.root / "annotations" / "instances_val2017.json"
    document = json.loads(annotations.read_text())
    document["annotations"] = [entry for entry in document["annotations"] if entry["image_id"] != 7]
    annotations.write_text(json.dumps(document))
    dataset = COCOSegmentation(root=coco_root.root, split="val", image_size=12)
    assert dataset.samples[1][0] == 7 and not dataset[1][1].any()


def test_an_interrupted_conversion_is_redone(coco_root):
    COCOSegmentation(root=coco_root.root, split="val")
    cache = coco_root.root / "semantic_masks" / "val2017"
    (cache / "index.json").unlink()
    (cache / "7.png").write_bytes(b"half a png")
    dataset = COCOSegmentation(root=coco_root.root, split="val", image_size=12)
    assert (cache / "index.json").is_file()
    assert np.array_equal(dataset[1][1].numpy(), nearest_reference(coco_root.expected[7], 12, 12))


def test_cache_dir_override_and_year_2014(tmp_path):
    fixture = write_coco_fixture(tmp_path / "coco", year=2014, splits=("train",))
    dataset = COCOSegmentation(root=fixture.root, split="train", year=2014, image_size=12, cache_dir=tmp_path / "cache")
    assert (tmp_path / "cache" / "train2014" / "index.json").is_file()
    assert not (fixture.root / "semantic_masks").exists()
    assert np.array_equal(dataset[1][1].numpy(), nearest_reference(fixture.expected[7], 12, 12))


def test_train_augmentation_flips(coco_root):
    dataset = COCOSegmentation(root=coco_root.root, split="train", image_size=12, augment=True)
    plain = COCOSegmentation(root=coco_root.root, split="train", image_size=12)[0][1]
    masks = set()
    for epoch in range(10):
        dataset.set_epoch(epoch)
        masks.add(dataset[0][1].numpy().tobytes())
    assert masks == {plain.numpy().tobytes(), plain.flip(-1).numpy().tobytes()}


def test_missing_files_name_the_layout_and_the_override(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        COCOSegmentation(root=tmp_path, split="val")
    message = str(error.value)
    assert str(tmp_path / "annotations" / "instances_val2017.json") in message
    assert str(tmp_path / "val2017") in message
    assert "<root>/annotations/instances_{train,val}<year>.json" in message
    assert "dataset.root=" in message and "\n" not in message


def test_unknown_split_lists_the_valid_ones(coco_root):
    with pytest.raises(ValueError, match="valid splits: train, val"):
        COCOSegmentation(root=coco_root.root, split="test")


def test_inspect_layout_counts_and_lists_missing_images(coco_root):
    report = inspect_layout(coco_root.root)
    assert report.usable
    assert report.counts["val images listed"] == 3 and report.counts["val images present"] == 3
    assert report.counts["val masks cached"] == 0
    os.remove(coco_root.root / "train2017" / coco_root.file_names[7])
    report = inspect_layout(coco_root.root)
    assert report.counts["train images present"] == 2
    assert len(report.problems) == 1 and coco_root.file_names[7] in report.problems[0]
