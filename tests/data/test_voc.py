import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from pixeldcn.data.errors import DatasetNotFoundError
from pixeldcn.data.voc import CLASS_NAMES, VOCSegmentation, check_layout, inspect_layout

from .conftest import write_voc_fixture
from .test_transforms import nearest_reference


def test_palette_png_masks_come_back_exactly_including_255(tmp_path):
    fixture = write_voc_fixture(tmp_path, n_train=3, n_val=2, size=(32, 32))
    for split, ids in (("train", fixture.train_ids), ("val", fixture.val_ids)):
        dataset = VOCSegmentation(root=tmp_path, split=split, image_size=32)
        assert len(dataset) == len(ids)
        for index, image_id in enumerate(ids):
            image, mask = dataset[index]
            assert mask.dtype == torch.int64 and mask.shape == (32, 32)
            assert np.array_equal(mask.numpy(), fixture.masks[image_id])
            assert image.dtype == torch.float32 and image.shape == (3, 32, 32)
    assert 255 in fixture.masks[fixture.train_ids[0]] and (fixture.masks[fixture.train_ids[0]] > 0).any()


def test_images_and_masks_are_resized_to_the_square_size(tmp_path):
    fixture = write_voc_fixture(tmp_path, n_train=2, n_val=1, size=(40, 30))
    dataset = VOCSegmentation(root=tmp_path, split="train", image_size=24)
    image, mask = dataset[1]
    assert image.shape == (3, 24, 24) and mask.shape == (24, 24)
    assert np.array_equal(mask.numpy(), nearest_reference(fixture.masks[fixture.train_ids[1]], 24, 24))
    jpeg = Image.open(tmp_path / "VOCdevkit/VOC2012/JPEGImages" / f"{fixture.train_ids[1]}.jpg").convert("RGB")
    expected = np.asarray(jpeg.resize((24, 24), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    assert torch.allclose(image, torch.from_numpy(expected).permute(2, 0, 1))


def test_dataset_attributes(voc_root):
    dataset = VOCSegmentation(root=voc_root.root, split="val")
    assert dataset.num_classes == 21 and dataset.class_names == list(CLASS_NAMES)
    assert dataset.class_names[15] == "person" and dataset.class_names[-1] == "tvmonitor"
    assert dataset.palette[1] == (128, 0, 0) and len(dataset.palette) == 21
    assert dataset.ignore_index == 255 and dataset.channels == 3 and dataset.image_size == 256
    copy = pickle.loads(pickle.dumps(dataset))
    assert torch.equal(copy[0][1], dataset[0][1])


def test_sbd_train_reads_train_aug_and_the_augmented_masks(voc_root):
    train = VOCSegmentation(root=voc_root.root, split="train", image_size=40, sbd=True)
    assert train.samples == voc_root.aug_ids and len(train) == len(voc_root.train_ids) + 2
    for index, image_id in enumerate(voc_root.aug_ids):
        expected = nearest_reference(voc_root.aug_masks[image_id], 40, 40)
        assert np.array_equal(train[index][1].numpy(), expected)
    # Val stays VOC's own split and masks.
    val = VOCSegmentation(root=voc_root.root, split="val", image_size=40, sbd=True)
    assert val.samples == voc_root.val_ids
    assert np.array_equal(val[0][1].numpy(), nearest_reference(voc_root.masks[voc_root.val_ids[0]], 40, 40))


def masks_by_epoch(dataset, index: int, epochs: int) -> list[torch.Tensor]:
    masks = []
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        masks.append(dataset[index][1])
    return masks


def test_train_augmentation_flips_and_zooms_reproducibly(voc_root):
    dataset = VOCSegmentation(root=voc_root.root, split="train", image_size=32, augment=True, scale_range=(0.5, 1.5))
    first = masks_by_epoch(dataset, 0, 6)
    again = masks_by_epoch(dataset, 0, 6)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert len({mask.numpy().tobytes() for mask in first}) > 1
    plain = VOCSegmentation(root=voc_root.root, split="train", image_size=32)[0][1]
    assert not all(torch.equal(mask, plain) for mask in first)


def test_flip_only_augmentation_gives_the_mask_or_its_mirror(voc_root):
    dataset = VOCSegmentation(root=voc_root.root, split="train", image_size=32, augment=True)
    plain = VOCSegmentation(root=voc_root.root, split="train", image_size=32)[1]
    seen = set()
    for epoch in range(12):
        dataset.set_epoch(epoch)
        image, mask = dataset[1]
        if torch.equal(mask, plain[1]):
            assert torch.equal(image, plain[0])
            seen.add("plain")
        else:
            assert torch.equal(mask, plain[1].flip(-1)) and torch.equal(image, plain[0].flip(-1))
            seen.add("flipped")
    assert seen == {"plain", "flipped"}


def test_val_ignores_augment(voc_root):
    dataset = VOCSegmentation(root=voc_root.root, split="val", image_size=32, augment=True, scale_range=(0.5, 2.0))
    plain = VOCSegmentation(root=voc_root.root, split="val", image_size=32)
    assert not dataset.augment
    for _ in range(4):
        assert torch.equal(dataset[0][0], plain[0][0]) and torch.equal(dataset[0][1], plain[0][1])


def test_missing_root_names_the_layout_and_the_override(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        VOCSegmentation(root=tmp_path / "nowhere", split="train")
    message = str(error.value)
    assert f"missing directory {tmp_path / 'nowhere' / 'VOCdevkit' / 'VOC2012'}" in message
    assert "<root>/VOCdevkit/VOC2012/{JPEGImages/<id>.jpg" in message
    assert "dataset.root=" in message and "\n" not in message


def test_a_missing_split_file_is_named(tmp_path):
    write_voc_fixture(tmp_path)
    (tmp_path / "VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt").unlink()
    VOCSegmentation(root=tmp_path, split="train")
    with pytest.raises(DatasetNotFoundError, match=r"missing val id list .*ImageSets/Segmentation/val\.txt"):
        VOCSegmentation(root=tmp_path, split="val")


def test_missing_sbd_files_are_reported_only_when_sbd_is_asked_for(tmp_path):
    write_voc_fixture(tmp_path)
    VOCSegmentation(root=tmp_path, split="train")
    with pytest.raises(DatasetNotFoundError, match="SegmentationClassAug"):
        VOCSegmentation(root=tmp_path, split="train", sbd=True)
    assert check_layout(tmp_path, ("val",), sbd=True) == []


def test_unknown_split_lists_the_valid_ones(voc_root):
    with pytest.raises(ValueError, match="valid splits: train, val"):
        VOCSegmentation(root=voc_root.root, split="trainval")


def test_rgb_masks_are_rejected_with_a_clear_message(tmp_path):
    fixture = write_voc_fixture(tmp_path, n_train=1, n_val=1)
    mask_path = tmp_path / "VOCdevkit/VOC2012/SegmentationClass" / f"{fixture.train_ids[0]}.png"
    Image.open(mask_path).convert("RGB").save(mask_path)
    with pytest.raises(ValueError, match="palette"):
        VOCSegmentation(root=tmp_path, split="train")[0]


def test_inspect_layout_counts_and_lists_missing_files(tmp_path):
    fixture = write_voc_fixture(tmp_path, n_train=3, n_val=2)
    report = inspect_layout(tmp_path)
    assert report.usable
    assert report.counts == {
        "train ids": 3, "train images": 3, "train masks": 3, "val ids": 2, "val images": 2, "val masks": 2,
    }  # fmt: skip
    (tmp_path / "VOCdevkit/VOC2012/JPEGImages" / f"{fixture.val_ids[1]}.jpg").unlink()
    report = inspect_layout(tmp_path)
    assert report.counts["val images"] == 1
    assert len(report.problems) == 1 and f"{fixture.val_ids[1]}.jpg" in report.problems[0]
