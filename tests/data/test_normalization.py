"""normalization=authors: 0-255 minus the training split's per-channel mean, computed independently here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pixeldcn.data import normalization
from pixeldcn.data.coco import COCOSegmentation
from pixeldcn.data.normalization import evenly_spaced
from pixeldcn.data.synthetic_shapes import SyntheticShapes
from pixeldcn.data.voc import VOCSegmentation

from .conftest import write_coco_fixture, write_voc_fixture


@pytest.fixture(autouse=True)
def fresh_means(monkeypatch):
    monkeypatch.setattr(normalization, "_MEANS", {})


def mean_of_jpegs(paths, size: int) -> np.ndarray:
    """Per-channel mean (0-255) of the pictures resized bilinearly to ``size`` squared, in float64."""
    pixels = [np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)) for p in paths]
    return np.stack(pixels).astype(np.float64).reshape(-1, 3).mean(0)


def test_evenly_spaced_indices():
    assert evenly_spaced(10, 4) == [0, 2, 5, 7]
    assert evenly_spaced(3, 1000) == [0, 1, 2]
    assert evenly_spaced(0, 5) == []


@pytest.mark.parametrize("sbd", [False, True])
def test_voc_authors_normalisation_subtracts_the_training_mean_from_0_255_pixels(tmp_path, sbd):
    fixture = write_voc_fixture(tmp_path, n_train=3, n_val=2, size=(24, 20), sbd=sbd)
    train_ids = fixture.aug_ids if sbd else fixture.train_ids
    jpegs = tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages"
    expected_mean = mean_of_jpegs([jpegs / f"{image_id}.jpg" for image_id in train_ids], 16)
    for split in ("val", "train"):  # val first: it computes the mean rather than find it cached
        unit = VOCSegmentation(tmp_path, split, image_size=16, sbd=sbd)
        authors = VOCSegmentation(tmp_path, split, image_size=16, sbd=sbd, normalization="authors")
        # The val split is normalised with the training mean, not its own.
        np.testing.assert_allclose(authors.pixel_mean.numpy(), expected_mean, rtol=0, atol=1e-4)
        for index in range(len(unit)):
            image, mask = authors[index]
            plain, plain_mask = unit[index]
            assert image.dtype == torch.float32 and torch.equal(mask, plain_mask)
            expected = plain.double() * 255 - torch.from_numpy(expected_mean).view(3, 1, 1)
            torch.testing.assert_close(image.double(), expected, rtol=0, atol=1e-4)
    assert unit.pixel_mean is None and unit[0][0].min() >= 0 and unit[0][0].max() <= 1


def test_the_mean_reads_at_most_mean_samples_evenly_spaced_training_images(tmp_path, monkeypatch):
    fixture = write_voc_fixture(tmp_path, n_train=5, n_val=1, size=(16, 16))
    monkeypatch.setattr(normalization.channel_mean, "__defaults__", (2,))
    dataset = VOCSegmentation(tmp_path, "val", image_size=16, normalization="authors")
    jpegs = tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages"
    chosen = [fixture.train_ids[0], fixture.train_ids[2]]  # evenly_spaced(5, 2) == [0, 2]
    np.testing.assert_allclose(
        dataset.pixel_mean.numpy(), mean_of_jpegs([jpegs / f"{i}.jpg" for i in chosen], 16), rtol=0, atol=1e-4
    )


def test_the_mean_is_computed_once_per_configuration(tmp_path, monkeypatch):
    write_voc_fixture(tmp_path, n_train=2, n_val=1, size=(16, 16))
    calls = []
    original = normalization.channel_mean
    monkeypatch.setattr(normalization, "channel_mean", lambda dataset: calls.append(len(dataset)) or original(dataset))
    for split in ("train", "val", "train"):
        VOCSegmentation(tmp_path, split, image_size=16, normalization="authors")
    VOCSegmentation(tmp_path, "val", image_size=32, normalization="authors")
    assert calls == [2, 2]


def test_coco_authors_normalisation_uses_the_train_split_images(tmp_path):
    fixture = write_coco_fixture(tmp_path / "coco")
    train_images = [fixture.root / "train2017" / fixture.file_names[i] for i in sorted(fixture.file_names)]
    val = COCOSegmentation(fixture.root, "val", image_size=8, normalization="authors")
    np.testing.assert_allclose(val.pixel_mean.numpy(), mean_of_jpegs(train_images, 8), rtol=0, atol=1e-4)
    plain = COCOSegmentation(fixture.root, "val", image_size=8)
    torch.testing.assert_close(val[1][0], plain[1][0] * 255 - val.pixel_mean.float().view(3, 1, 1))


def test_an_unknown_normalisation_lists_the_valid_ones(tmp_path):
    write_voc_fixture(tmp_path, n_train=1, n_val=1)
    with pytest.raises(ValueError, match=r"normalization='imagenet' is not one of unit, authors"):
        VOCSegmentation(tmp_path, "train", normalization="imagenet")


def test_synthetic_shapes_authors_normalisation_uses_the_mean_of_the_training_scenes():
    # num_samples applies to both splits of a configuration: the training split has 3 scenes too.
    train = SyntheticShapes("train", image_size=16, num_samples=3, seed=2)
    scenes = np.stack([train.render(index)[0] for index in range(3)]).astype(np.float64)  # 5 x S x S x 3 in [0, 1]
    expected_mean = scenes.reshape(-1, 3).mean(0) * 255
    val = SyntheticShapes("val", image_size=16, num_samples=3, seed=2, normalization="authors")
    np.testing.assert_allclose(val.pixel_mean.numpy(), expected_mean, rtol=0, atol=1e-4)
    plain = SyntheticShapes("val", image_size=16, num_samples=3, seed=2)
    expected = plain[1][0].double() * 255 - torch.from_numpy(expected_mean).view(3, 1, 1)
    torch.testing.assert_close(val[1][0].double(), expected, rtol=0, atol=1e-4)
    assert torch.equal(val[1][1], plain[1][1])
