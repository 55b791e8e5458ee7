import pickle

import numpy as np
import pytest
import torch

from pixeldcn.data.errors import DatasetNotFoundError
from pixeldcn.data.fashion_scenes import CLASS_NAMES, FashionScenes, inspect_layout

from .conftest import fashion_garment, write_fashion_idx_fixture, write_idx


def test_scene_items_follow_the_dataset_contract(fashion_root):
    dataset = FashionScenes(root=fashion_root.root, split="train", image_size=40, num_samples=5)
    image, mask = dataset[0]
    assert image.shape == (3, 40, 40) and image.dtype == torch.float32
    assert mask.shape == (40, 40) and mask.dtype == torch.int64
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert dataset.num_classes == 11 and dataset.class_names == list(CLASS_NAMES) and len(dataset.palette) == 11
    assert dataset.class_names[1:] == [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]  # fmt: skip
    assert dataset.ignore_index == 255 and dataset.channels == 3 and len(dataset) == 5
    assert len(FashionScenes(root=fashion_root.root, split="val")) == 1000


@pytest.mark.parametrize("compress", [True, False])
def test_a_single_untinted_garment_is_painted_and_labelled_exactly(tmp_path, compress):
    fixture = write_fashion_idx_fixture(tmp_path, compress=compress)
    dataset = FashionScenes(
        root=tmp_path, split="train", image_size=48, objects=(1, 1), garment_scale=(1.0, 1.0), tint=False,
        num_samples=12,
    )  # fmt: skip
    for index in range(len(dataset)):
        image, mask = dataset[index]
        labels = torch.unique(mask).tolist()
        assert labels[0] == 0 and len(labels) == 2
        garment_class = labels[1]
        assert garment_class - 1 in fixture.labels["train"].tolist()
        # The stand-in garment is a solid (label + 3) x (label + 5) rectangle at full intensity.
        rows, cols = torch.nonzero(mask == garment_class, as_tuple=True)
        height, width = int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1
        assert (height, width) == (garment_class + 2, garment_class + 4)
        assert len(rows) == height * width
        # Full opacity and no tint: the garment is pure white.
        assert torch.all(image[:, rows, cols] == 1.0)


def test_train_scenes_use_training_garments_and_val_scenes_the_test_garments(fashion_root):
    train_classes, val_classes = set(), set()
    for split, classes in (("train", train_classes), ("val", val_classes)):
        dataset = FashionScenes(root=fashion_root.root, split=split, image_size=64, num_samples=30)
        for index in range(len(dataset)):
            classes.update(torch.unique(dataset[index][1]).tolist())
    assert train_classes == {0} | {label + 1 for label in fashion_root.labels["train"].tolist()}
    assert val_classes == {0} | {label + 1 for label in fashion_root.labels["t10k"].tolist()}


def test_scenes_hold_between_the_requested_numbers_of_garments(tmp_path):
    # Ten distinct labels on a wide canvas, so most garments are told apart by their class.
    write_fashion_idx_fixture(tmp_path, train_labels=tuple(range(10)))
    dataset = FashionScenes(
        root=tmp_path, split="train", image_size=160, objects=(2, 4), num_samples=30, garment_scale=(1.0, 1.0)
    )
    counts = {len(np.unique(dataset[index][1].numpy())) - 1 for index in range(len(dataset))}
    assert {2, 3, 4} <= counts <= {1, 2, 3, 4}


def test_scenes_are_deterministic_and_pickle_without_the_garment_arrays(fashion_root):
    dataset = FashionScenes(root=fashion_root.root, split="val", num_samples=4, seed=5)
    first = dataset[2]
    assert dataset._garments is not None
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy._garments is None
    again = copy[2]
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    other_seed = FashionScenes(root=fashion_root.root, split="val", num_samples=4, seed=6)[2]
    assert not torch.equal(first[0], other_seed[0])


def test_train_augmentation_flips_some_scenes_and_val_ignores_it(fashion_root):
    common = dict(root=fashion_root.root, image_size=32, num_samples=16, seed=1)
    plain = FashionScenes(split="train", **common)
    augmented = FashionScenes(split="train", augment=True, **common)
    flipped = 0
    for index in range(16):
        image, mask = plain[index]
        aug_image, aug_mask = augmented[index]
        if torch.equal(aug_mask, mask) and torch.equal(aug_image, image):
            continue
        assert torch.equal(aug_mask, mask.flip(-1)) and torch.equal(aug_image, image.flip(-1))
        flipped += 1
    assert 0 < flipped < 16
    val = FashionScenes(split="val", augment=True, **common)
    assert not val.augment
    assert torch.equal(val[3][0], FashionScenes(split="val", **common)[3][0])


def test_missing_files_name_the_layout_and_the_override(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        FashionScenes(root=tmp_path / "nowhere", split="train")
    message = str(error.value)
    assert f"missing directory {tmp_path / 'nowhere'}" in message
    assert "<root>/{train,t10k}-images-idx3-ubyte[.gz]" in message
    assert "dataset.root=" in message and "dataset-fashion-mnist" in message
    assert "\n" not in message
    assert isinstance(error.value, FileNotFoundError)


def test_a_split_needs_only_its_own_files(tmp_path):
    write_fashion_idx_fixture(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    FashionScenes(root=tmp_path, split="train")
    with pytest.raises(DatasetNotFoundError, match="t10k-labels-idx1-ubyte"):
        FashionScenes(root=tmp_path, split="val")


def test_unknown_split_lists_the_valid_ones(fashion_root):
    with pytest.raises(ValueError, match="valid splits: train, val"):
        FashionScenes(root=fashion_root.root, split="test")


def test_inspect_layout_counts_from_headers_and_flags_mismatches(tmp_path):
    write_fashion_idx_fixture(tmp_path, train_labels=(1, 2, 3), test_labels=(4, 5))
    report = inspect_layout(tmp_path)
    assert report.usable
    assert report.counts == {"train images": 3, "train labels": 3, "val images": 2, "val labels": 2}
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([4], dtype=np.uint8))
    report = inspect_layout(tmp_path)
    assert not report.usable and "2 images but 1 labels" in report.problems[0]


def test_out_of_range_labels_are_reported(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.stack([fashion_garment(0)]))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([10], dtype=np.uint8))
    dataset = FashionScenes(root=tmp_path, split="train", num_samples=1)
    with pytest.raises(ValueError, match="must be 0..9"):
        dataset[0]
