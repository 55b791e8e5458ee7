import numpy as np
import pytest
import torch
from PIL import Image

from pixeldcn.data.palette import colorize_mask, pascal_palette, pil_palette
from pixeldcn.data.transforms import (
    SegmentationTransform,
    hflip_pair,
    image_tensor,
    resize_pair,
    scale_crop_pair,
    to_tensors,
)

from .conftest import VOC_COLORS


def nearest_reference(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resampling by pixel centres: output pixel i reads input floor((i + 0.5) * in / out)."""
    rows = np.floor((np.arange(height) + 0.5) * array.shape[0] / height).astype(int)
    cols = np.floor((np.arange(width) + 0.5) * array.shape[1] / width).astype(int)
    return array[rows][:, cols]


def test_pascal_palette_matches_the_voc_devkit_colours():
    palette = pascal_palette(21)
    assert palette[: len(VOC_COLORS)] == VOC_COLORS
    assert palette[15] == (192, 128, 128)  # person
    assert palette[20] == (0, 64, 128)  # tvmonitor
    assert len(set(palette)) == 21
    assert pascal_palette(256)[255] == (224, 224, 192)
    with pytest.raises(ValueError):
        pascal_palette(0)


def test_colorize_mask_paints_classes_and_ignore():
    mask = np.array([[0, 1], [2, 255]])
    colours = colorize_mask(mask, [(0, 0, 0), (10, 20, 30), (40, 50, 60)], ignore_color=(1, 2, 3))
    assert colours.dtype == np.uint8 and colours.shape == (2, 2, 3)
    assert colours.tolist() == [[[0, 0, 0], [10, 20, 30]], [[40, 50, 60], [1, 2, 3]]]
    assert len(pil_palette([(1, 1, 1)])) == 768


def make_pair(height: int = 30, width: int = 40) -> tuple[Image.Image, Image.Image, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 21, size=(height, width)).astype(np.uint8)
    labels[0] = 255
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels), Image.fromarray(labels), labels


def test_resize_keeps_mask_values_by_nearest_neighbour():
    image, mask, labels = make_pair()
    resized_image, resized_mask = resize_pair(image, mask, 24)
    assert resized_image.size == (24, 24) and resized_mask.size == (24, 24)
    assert np.array_equal(np.asarray(resized_mask), nearest_reference(labels, 24, 24))


def test_flip_mirrors_both():
    image, mask, labels = make_pair()
    flipped_image, flipped_mask = hflip_pair(image, mask)
    assert np.array_equal(np.asarray(flipped_mask), labels[:, ::-1])
    assert np.array_equal(np.asarray(flipped_image), np.asarray(image)[:, ::-1])


def test_zoom_in_crops_the_chosen_window():
    # 4 x 4 quadrant mask zoomed 2x: the top-left window is the top-left quadrant, blown up.
    labels = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]], dtype=np.uint8)
    image = Image.fromarray(np.stack([labels * 50] * 3, axis=-1))
    _, cropped = scale_crop_pair(image, Image.fromarray(labels), 4, 2.0, (0.0, 0.0))
    assert np.asarray(cropped).tolist() == [[1] * 4] * 4
    _, cropped = scale_crop_pair(image, Image.fromarray(labels), 4, 2.0, (1.0, 1.0))
    assert np.asarray(cropped).tolist() == [[4] * 4] * 4
    _, cropped = scale_crop_pair(image, Image.fromarray(labels), 4, 2.0, (0.5, 0.5))
    assert np.asarray(cropped).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]


def test_zoom_out_pads_the_mask_with_ignore_and_the_image_with_black():
    image, mask, labels = make_pair(8, 8)
    padded_image, padded_mask = scale_crop_pair(image, mask, 8, 0.5, (1.0, 0.0))
    padded_labels = np.asarray(padded_mask)
    # The 4 x 4 picture sits bottom-left: the window is at the bottom end of the vertical slack
    # and the left end of the horizontal one.
    assert np.array_equal(padded_labels[4:, :4], nearest_reference(labels, 4, 4))
    assert (padded_labels[:4] == 255).all() and (padded_labels[:, 4:] == 255).all()
    assert (np.asarray(padded_image)[:4] == 0).all() and (np.asarray(padded_image)[:, 4:] == 0).all()


def test_palette_masks_stay_palette_masks_through_zoom():
    labels = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    mask = Image.frombytes("P", (2, 2), labels.tobytes())
    mask.putpalette(pil_palette(pascal_palette(5)))
    _, zoomed = scale_crop_pair(Image.new("RGB", (4, 4)), mask, 4, 0.5, (0.0, 0.0))
    assert zoomed.mode == "P" and zoomed.getpalette()[3:6] == [128, 0, 0]
    assert np.asarray(zoomed).tolist() == [[1, 2, 255, 255], [3, 4, 255, 255], [255] * 4, [255] * 4]


def test_to_tensors_follows_the_dataset_contract():
    pixels = np.array([[[0, 51, 255]]], dtype=np.uint8)
    image, mask = to_tensors(Image.fromarray(pixels), Image.fromarray(np.array([[255]], dtype=np.uint8)))
    assert image.dtype == torch.float32 and image.shape == (3, 1, 1)
    assert image.flatten().tolist() == pytest.approx([0.0, 0.2, 1.0])
    assert mask.dtype == torch.int64 and mask.tolist() == [[255]]


def test_transform_without_augmentation_only_resizes():
    image, mask, labels = make_pair()
    out_image, out_mask = SegmentationTransform(16)(image, mask)
    assert out_image.shape == (3, 16, 16)
    assert torch.equal(out_mask, torch.from_numpy(nearest_reference(labels, 16, 16)).long())


def test_augmenting_transform_is_reproducible_from_its_generator_and_needs_one():
    image, mask, _ = make_pair()
    transform = SegmentationTransform(16, augment=True, scale_range=(0.5, 2.0))
    first = transform(image, mask, np.random.default_rng(7))
    second = transform(image, mask, np.random.default_rng(7))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    outputs = {transform(image, mask, np.random.default_rng(seed))[1].numpy().tobytes() for seed in range(8)}
    assert len(outputs) > 1
    with pytest.raises(ValueError, match="Generator"):
        transform(image, mask)
    with pytest.raises(ValueError, match="scale_range"):
        SegmentationTransform(16, scale_range=(2.0, 1.0))


def test_image_tensor_scales_bytes_keeps_floats_and_gives_grey_one_channel():
    pixels = np.array([[[0, 51, 255], [102, 153, 204]]], dtype=np.uint8)  # 1 x 2 x 3 (H x W x C)
    tensor = image_tensor(pixels)
    assert tensor.dtype == torch.float32 and tensor.shape == (3, 1, 2)
    assert tensor[:, 0, 0].tolist() == pytest.approx([0.0, 0.2, 1.0]) and tensor[2, 0, 1].item() == pytest.approx(0.8)
    assert torch.equal(image_tensor(Image.fromarray(pixels)), tensor)
    grey = image_tensor(np.array([[0, 255]], dtype=np.uint8))
    assert grey.shape == (1, 1, 2) and grey.tolist() == [[[0.0, 1.0]]]
    floats = np.full((2, 2, 3), 0.25, dtype=np.float32)
    assert torch.equal(image_tensor(floats), torch.full((3, 2, 2), 0.25))
