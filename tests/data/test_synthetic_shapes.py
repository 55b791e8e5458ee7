import pickle
import time

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pixeldcn.data.synthetic_shapes import SyntheticShapes, random_background


def test_items_follow_the_dataset_contract():
    dataset = SyntheticShapes(split="train", image_size=48, num_samples=7)
    image, mask = dataset[3]
    assert len(dataset) == 7
    assert image.shape == (3, 48, 48) and image.dtype == torch.float32
    assert mask.shape == (48, 48) and mask.dtype == torch.int64
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert dataset.num_classes == 5 and len(dataset.class_names) == 5 and len(dataset.palette) == 5
    assert dataset.class_names[0] == "background"
    assert dataset.ignore_index == 255 and dataset.channels == 3 and dataset.image_size == 48
    with pytest.raises(IndexError):
        dataset[7]


def test_default_lengths():
    assert len(SyntheticShapes(split="train")) == 2000
    assert len(SyntheticShapes(split="val")) == 200


def test_a_sample_depends_only_on_seed_split_and_index():
    first, second = SyntheticShapes(split="train", seed=3), SyntheticShapes(split="train", seed=3)
    for index in (0, 17, 1999):
        assert torch.equal(first[index][0], second[index][0]) and torch.equal(first[index][1], second[index][1])
    # Reading in another order, or from an unpickled copy, changes nothing.
    copy = pickle.loads(pickle.dumps(first))
    assert torch.equal(copy[17][0], first[17][0])
    assert not torch.equal(first[0][0], SyntheticShapes(split="train", seed=4)[0][0])
    assert not torch.equal(first[0][0], SyntheticShapes(split="val", seed=3)[0][0])
    assert not torch.equal(first[0][0], first[1][0])


def test_workers_see_the_same_samples_as_the_main_process():
    dataset = SyntheticShapes(split="val", image_size=32, num_samples=8)
    images, masks = next(iter(DataLoader(dataset, batch_size=8, num_workers=2)))
    direct = [dataset[index] for index in range(8)]
    assert torch.equal(images, torch.stack([image for image, _ in direct]))
    assert torch.equal(masks, torch.stack([mask for _, mask in direct]))


def test_every_class_appears_and_scenes_have_several_shapes():
    dataset = SyntheticShapes(split="train", num_samples=60)
    pixel_counts = torch.zeros(5, dtype=torch.int64)
    for index in range(len(dataset)):
        _, mask = dataset[index]
        present = torch.unique(mask)
        assert present.min() >= 0 and present.max() < 5
        assert len(present) >= 2, "every scene draws at least two shapes over the background"
        pixel_counts += torch.bincount(mask.flatten(), minlength=5)
    fractions = pixel_counts.double() / pixel_counts.sum()
    assert 0.5 < fractions[0] < 0.95, "background should dominate without swallowing the shapes"
    assert (fractions[1:] > 0.01).all(), f"some shape class is (almost) never drawn: {fractions.tolist()}"


def test_shape_colours_differ_by_class_but_overlap():
    # Learnable: mean colours of the classes are apart; not trivial: single pixels overlap.
    dataset = SyntheticShapes(split="train", num_samples=60)
    pixels = {class_id: [] for class_id in range(1, 4)}
    for index in range(len(dataset)):
        image, mask = dataset.render(index)
        for class_id in pixels:
            pixels[class_id].append(image[mask == class_id])
    means = {class_id: np.concatenate(values).mean(axis=0) for class_id, values in pixels.items()}
    stds = {class_id: np.concatenate(values).std(axis=0) for class_id, values in pixels.items()}
    for first in means:
        for second in means:
            if first < second:
                assert np.abs(means[first] - means[second]).max() > 0.2
    assert all((std > 0.08).all() for std in stds.values())


def test_fewer_classes_use_only_the_first_shape_kinds():
    dataset = SyntheticShapes(split="train", num_classes=3, num_samples=20)
    assert dataset.class_names == ["background", "ellipse", "triangle"]
    assert max(int(dataset[index][1].max()) for index in range(20)) == 2


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="valid splits: train, val"):
        SyntheticShapes(split="test")
    with pytest.raises(ValueError, match="num_classes"):
        SyntheticShapes(split="train", num_classes=6)


def test_background_textures_stay_in_range():
    rng = np.random.default_rng(0)
    for _ in range(30):
        canvas = random_background(rng, 32)
        assert canvas.shape == (32, 32, 3) and canvas.dtype == np.float32
        assert 0.0 <= canvas.min() and canvas.max() <= 1.0


def test_generation_is_fast_enough_for_on_the_fly_use():
    dataset = SyntheticShapes(split="train", image_size=64)
    dataset[0]
    start = time.perf_counter()
    for index in range(200):
        dataset[index]
    per_item = (time.perf_counter() - start) / 200
    # About 1 ms on an idle core; the bound only catches a slow generator, with room for a busy CI machine.
    assert per_item < 0.025
