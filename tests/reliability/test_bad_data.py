"""Bad dataset files written by the tests: each stops with one line naming the file, or is skipped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import QUIET_SMOKE
from data.conftest import _save_palette_png, write_coco_fixture, write_voc_fixture
from generation.conftest import write_celeba_fixture
from torch.utils.data import DataLoader

from pixeldcn.data import COCOSegmentation, DatasetNotFoundError, VOCSegmentation
from pixeldcn.data.celeba import CelebA
from pixeldcn.data.validation import BadSampleError, DuplicateSamplesError, EmptySplitError, skipped_count

DEVKIT = Path("VOCdevkit", "VOC2012")


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def voc(tmp_path):
    return write_voc_fixture(tmp_path / "voc", n_train=4, n_val=2, size=(40, 30))


def train_file(voc, image_id: str, kind: str) -> Path:
    folder, suffix = {"image": ("JPEGImages", ".jpg"), "mask": ("SegmentationClass", ".png")}[kind]
    return voc.root / DEVKIT / folder / f"{image_id}{suffix}"


def test_a_truncated_jpeg_is_named(voc):
    bad = train_file(voc, voc.train_ids[1], "image")
    truncate(bad)
    dataset = VOCSegmentation(voc.root, "train", image_size=32)
    dataset[0]  # the other samples still read
    with pytest.raises(BadSampleError, match=rf"unreadable or truncated image {bad}"):
        dataset[1]


def test_a_truncated_mask_is_named(voc):
    bad = train_file(voc, voc.train_ids[2], "mask")
    truncate(bad)
    with pytest.raises(BadSampleError, match=rf"unreadable or truncated mask {bad}"):
        VOCSegmentation(voc.root, "train", image_size=32)[2]


def test_palette_indices_outside_the_classes_are_named(voc):
    bad = train_file(voc, voc.train_ids[0], "mask")
    mask = voc.masks[voc.train_ids[0]].copy()
    mask[0, :3] = (21, 30, 254)  # VOC has classes 0..20 and 255
    _save_palette_png(mask, bad)
    with pytest.raises(BadSampleError, match=rf"mask {bad} holds values 21, 30, 254 outside the classes 0..20 and 255"):
        VOCSegmentation(voc.root, "train", image_size=32)[0]


def test_a_mask_of_another_size_than_its_image_is_named(voc):
    bad = train_file(voc, voc.train_ids[3], "mask")
    _save_palette_png(np.zeros((20, 40), dtype=np.uint8), bad)
    with pytest.raises(BadSampleError, match=rf"mask {bad} is 40x20 but its image is 40x30"):
        VOCSegmentation(voc.root, "train", image_size=32)[3]


def test_skip_substitutes_the_next_good_sample_and_counts_it(voc):
    truncate(train_file(voc, voc.train_ids[1], "image"))
    good = VOCSegmentation(voc.root, "train", image_size=32)
    skipping = VOCSegmentation(voc.root, "train", image_size=32, on_error="skip")
    image, mask = skipping[1]
    assert torch.equal(image, good[2][0]) and torch.equal(mask, good[2][1])
    assert skipped_count(skipping) == 1
    batches = list(DataLoader(skipping, batch_size=2))
    assert [batch[0].shape[0] for batch in batches] == [2, 2]  # batching keeps its size
    assert skipped_count(skipping) == 1  # counted once per file, however often it is drawn


def test_a_missing_split_file_names_it(voc):
    listing = voc.root / DEVKIT / "ImageSets" / "Segmentation" / "val.txt"
    listing.unlink()
    with pytest.raises(DatasetNotFoundError, match=rf"missing val id list {listing}"):
        VOCSegmentation(voc.root, "val", image_size=32)


def test_an_empty_split_is_refused(voc):
    listing = voc.root / DEVKIT / "ImageSets" / "Segmentation" / "val.txt"
    listing.write_text("\n")
    with pytest.raises(EmptySplitError, match=rf"split 'val' is empty: {listing} lists no images"):
        VOCSegmentation(voc.root, "val", image_size=32)


def test_a_malformed_coco_json_is_named_and_leaves_no_cache_index(tmp_path):
    fixture = write_coco_fixture(tmp_path / "coco", splits=("val",))
    annotations = fixture.root / "annotations" / "instances_val2017.json"
    annotations.write_text(annotations.read_text()[:100])
    with pytest.raises(ValueError, match=rf"malformed COCO annotation file {annotations}"):
        COCOSegmentation(fixture.root, "val", image_size=16)
    assert not (fixture.root / "semantic_masks" / "val2017" / "index.json").exists()


def test_a_coco_json_without_images_is_an_empty_split(tmp_path):
    fixture = write_coco_fixture(tmp_path / "coco", splits=("val",))
    annotations = fixture.root / "annotations" / "instances_val2017.json"
    document = json.loads(annotations.read_text())
    annotations.write_text(json.dumps({**document, "images": [], "annotations": []}))
    with pytest.raises(EmptySplitError, match="COCO 2017 split 'val' is empty"):
        COCOSegmentation(fixture.root, "val", image_size=16)


def test_a_run_stops_on_a_bad_image_in_one_line_and_writes_no_results(run_train, tmp_path, voc):
    bad = train_file(voc, voc.train_ids[0], "image")
    truncate(bad)
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_train(run_dir, *QUIET_SMOKE, "dataset=voc", f"dataset.root={voc.root}")
    assert exit_info.value.code == 1
    errors = [line for line in (run_dir / "train.log").read_text().splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"unreadable or truncated image {bad}" in errors[0]
    for name in ("last.pt", "best.pt", "metrics.json", "timing.json"):
        assert not (run_dir / name).exists(), name
    assert not list(run_dir.glob(".*.tmp"))


def test_a_run_with_on_error_skip_finishes_and_reports_the_count(run_train, tmp_path, voc):
    truncate(train_file(voc, voc.train_ids[0], "image"))
    overrides = ["dataset=voc", f"dataset.root={voc.root}", "dataset.on_error=skip"]
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE, *overrides)
    log = (run_dir / "train.log").read_text()
    assert "skipping sample 0 (dataset.on_error=skip): unreadable or truncated image" in log
    assert "1 unreadable training samples skipped so far" in log
    assert json.loads((run_dir / "metrics.json").read_text())["final"]["num_images"] == 2


def test_celeba_names_a_truncated_picture_and_can_skip_it(tmp_path):
    fixture = write_celeba_fixture(tmp_path / "faces", counts=(3, 1, 1))
    bad = tmp_path / "faces" / "celeba" / "img_align_celeba" / fixture.files["train"][0]
    truncate(bad)
    with pytest.raises(BadSampleError, match=rf"unreadable or truncated image {bad}"):
        CelebA(fixture.root, "train", image_size=16)[0]
    skipping = CelebA(fixture.root, "train", image_size=16, on_error="skip")
    assert torch.equal(skipping[0][0], CelebA(fixture.root, "train", image_size=16)[1][0])
    assert skipped_count(skipping) == 1


def test_celeba_with_an_empty_split_is_refused(tmp_path):
    fixture = write_celeba_fixture(tmp_path / "faces", counts=(2, 0, 1))
    with pytest.raises(EmptySplitError, match=r"CelebA split 'val' is empty: .*partition.txt lists no images"):
        CelebA(fixture.root, "val", image_size=16)


def test_a_split_list_naming_a_sample_twice_is_refused(voc, tmp_path):
    listing = voc.root / DEVKIT / "ImageSets" / "Segmentation" / "train.txt"
    ids = voc.train_ids
    listing.write_text("\n".join([ids[0], ids[1], ids[0], ids[2], ids[1], ids[3]]) + "\n")
    with pytest.raises(DuplicateSamplesError) as error:
        VOCSegmentation(voc.root, "train", image_size=32)
    message = str(error.value)
    assert (
        message.startswith(f"{listing} lists 2 sample(s) more than once ({ids[0]}, {ids[1]})") and "\n" not in message
    )
    # The same for every dataset read from files (the check lives in their common base).
    fixture = write_celeba_fixture(tmp_path / "faces", counts=(3, 1, 1))
    partition = fixture.root / "celeba" / "list_eval_partition.txt"
    partition.write_text(partition.read_text() + f"{fixture.files['val'][0]} 1\n")
    with pytest.raises(
        DuplicateSamplesError, match=rf"{partition} lists 1 sample\(s\) more than once \({fixture.files['val'][0]}\)"
    ):
        CelebA(fixture.root, "val", image_size=16)


def test_a_bad_validation_sample_is_left_out_not_substituted(voc):
    bad = voc.root / DEVKIT / "JPEGImages" / f"{voc.val_ids[0]}.jpg"
    truncate(bad)
    good = VOCSegmentation(voc.root, "val", image_size=32)
    skipping = VOCSegmentation(voc.root, "val", image_size=32, on_error="skip")
    assert skipping.samples == voc.val_ids[1:] and len(skipping) == 1  # the good one is scored once
    assert torch.equal(skipping[0][1], good[1][1])
    assert skipped_count(skipping) == 1
    with pytest.raises(IndexError):
        skipping[1]


def test_a_run_records_the_evaluation_samples_it_skipped(run_train, tmp_path, voc):
    truncate(voc.root / DEVKIT / "JPEGImages" / f"{voc.val_ids[0]}.jpg")
    overrides = ["dataset=voc", f"dataset.root={voc.root}", "dataset.on_error=skip"]
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE, *overrides)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["final"]["num_images"] == 1  # of 2: the bad one is not scored, nor a stand-in for it
    assert metrics["final"]["skipped_samples"] == 1
    assert [entry["skipped_samples"]["val"] for entry in metrics["history"]] == [1, 1]
    assert (
        "leaving out a val sample (dataset.on_error=skip; evaluation never substitutes)"
        in (run_dir / "train.log").read_text()
    )


def test_celeba_skips_a_missing_picture_and_names_it(tmp_path):
    fixture = write_celeba_fixture(tmp_path / "faces", counts=(3, 1, 1))
    missing = fixture.image_path(fixture.files["train"][1])
    missing.unlink()
    with pytest.raises(BadSampleError) as error:
        CelebA(fixture.root, "train", image_size=16)[1]
    assert str(error.value).startswith(f"missing image {missing}") and "dataset.root" not in str(error.value)
    skipping = CelebA(fixture.root, "train", image_size=16, on_error="skip")
    assert torch.equal(skipping[1][0], CelebA(fixture.root, "train", image_size=16)[2][0])
    assert skipped_count(skipping) == 1
