import pickle

import numpy as np
import pytest
import torch

from pixeldcn.data.synthetic_volumes import CLASS_INTENSITY, SyntheticVolumes, random_rotation


def test_items_follow_the_segmentation_contract_with_one_more_axis():
    dataset = SyntheticVolumes(split="train", image_size=16, num_samples=5)
    volume, mask = dataset[4]
    assert len(dataset) == 5
    assert volume.shape == (1, 16, 16, 16) and volume.dtype == torch.float32
    assert mask.shape == (16, 16, 16) and mask.dtype == torch.int64
    assert 0.0 <= volume.min() and volume.max() <= 1.0
    assert dataset.num_classes == 4 and dataset.class_names == ["background", "ellipsoid", "cuboid", "tube"]
    assert len(dataset.palette) == 4 and dataset.palette[1] == (128, 0, 0)
    assert dataset.ignore_index == 255 and dataset.channels == 1 and dataset.image_size == 16
    with pytest.raises(IndexError, match="index 5 out of range"):
        dataset[5]


def test_default_lengths():
    assert len(SyntheticVolumes(split="train")) == 400
    assert len(SyntheticVolumes(split="val")) == 40


def test_a_sample_depends_only_on_seed_split_and_index():
    first, second = SyntheticVolumes(image_size=16, seed=3), SyntheticVolumes(image_size=16, seed=3)
    for index in (0, 17, 399):
        assert torch.equal(first[index][0], second[index][0]) and torch.equal(first[index][1], second[index][1])
    copy = pickle.loads(pickle.dumps(first))
    assert torch.equal(copy[17][1], first[17][1])
    assert not torch.equal(first[0][0], SyntheticVolumes(image_size=16, seed=4)[0][0])
    assert not torch.equal(first[0][0], SyntheticVolumes(split="val", image_size=16, seed=3)[0][0])
    assert not torch.equal(first[0][1], first[1][1])


def test_every_class_appears_with_its_own_brightness():
    dataset = SyntheticVolumes(split="train", image_size=16, num_samples=30)
    voxels = torch.zeros(4, dtype=torch.int64)
    brightness = torch.zeros(4, dtype=torch.float64)
    for index in range(len(dataset)):
        volume, mask = dataset[index]
        assert len(torch.unique(mask)) >= 2, "every volume places solids over the background"
        voxels += torch.bincount(mask.flatten(), minlength=4)
        brightness += torch.zeros(4, dtype=torch.float64).index_add_(0, mask.flatten(), volume.flatten().double())
    fractions = voxels.double() / voxels.sum()
    assert 0.6 < fractions[0] < 0.95 and (fractions[1:] > 0.02).all()
    means = brightness / voxels
    # Solids are brighter than the background on average, each near its class intensity.
    assert (means[1:] > means[0] + 0.2).all()
    for class_id, name in enumerate(["ellipsoid", "cuboid", "tube"], start=1):
        assert means[class_id] == pytest.approx(CLASS_INTENSITY[name], abs=0.05)


def test_fewer_classes_use_only_their_labels():
    dataset = SyntheticVolumes(image_size=8, num_samples=10, num_classes=2)
    labels = torch.cat([dataset[i][1].flatten() for i in range(10)]).unique()
    assert labels.tolist() == [0, 1] and dataset.class_names == ["background", "ellipsoid"]


def test_random_rotations_are_proper_rotations():
    rng = np.random.default_rng(0)
    for _ in range(5):
        rotation = random_rotation(rng)
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-6)
        assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "test"}, "unknown split 'test' for SyntheticVolumes; valid splits: train, val"),
        ({"num_classes": 5}, "num_classes must be between 2 and 4, got 5"),
        ({"image_size": 4}, "image_size must be at least 8 voxels, got 4"),
        ({"num_samples": -1}, "num_samples must be non-negative, got -1"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticVolumes(**kwargs)
