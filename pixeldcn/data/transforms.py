"""Joint image + mask transforms shared by the segmentation datasets.

Images are resized bilinearly, masks always with nearest neighbour so class ids are never blended.
Random choices come from an explicit ``numpy.random.Generator``, which the datasets derive from
``(seed, index)`` (the procedural ones) or ``(seed, epoch, index)`` (those read from files), so a
sample never depends on the process or worker that draws it.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def resize_pair(image: Image.Image, mask: Image.Image, size: int) -> tuple[Image.Image, Image.Image]:
    """Resize both to ``size x size``: the image bilinearly, the mask by nearest neighbour."""
    return image.resize((size, size), Image.Resampling.BILINEAR), mask.resize((size, size), Image.Resampling.NEAREST)


def hflip_pair(image: Image.Image, mask: Image.Image) -> tuple[Image.Image, Image.Image]:
    """Mirror both left to right."""
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), mask.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def scale_crop_pair(
    image: Image.Image,
    mask: Image.Image,
    size: int,
    scale: float,
    crop_top_left: tuple[float, float],
    ignore_index: int = 255,
) -> tuple[Image.Image, Image.Image]:
    """Resize both to ``round(size * scale)`` squared, then crop or pad back to ``size x size``.

    A zoom above 1 is cropped; one below 1 is padded (image black, mask ``ignore_index`` so the
    padding is never scored). ``crop_top_left`` holds two fractions in ``[0, 1]`` placing the window
    along the slack, vertically then horizontally: 0 is the top/left end, 1 the bottom/right end.
    """
    scaled = max(1, round(size * scale))
    image, mask = resize_pair(image, mask, scaled)
    # Offsets of the output window in the scaled picture; negative offsets mean padding.
    top = round((scaled - size) * crop_top_left[0])
    left = round((scaled - size) * crop_top_left[1])
    image_canvas = Image.new(image.mode, (size, size))
    mask_canvas = Image.new(mask.mode, (size, size), ignore_index)
    if mask.mode == "P":
        mask_canvas.putpalette(mask.getpalette())
    image_canvas.paste(image, (-left, -top))
    mask_canvas.paste(mask, (-left, -top))
    return image_canvas, mask_canvas


def image_tensor(picture: Image.Image | np.ndarray) -> Tensor:
    """A picture as a float32 ``C x H x W`` tensor (``1 x H x W`` for a grey ``H x W`` one).

    PIL images and uint8 arrays are scaled from 0 .. 255 to [0, 1]; float arrays keep their values
    (as torchvision's ``to_tensor``).
    """
    # numpy rather than torch: torch's intra-op threads make this small copy slow on a busy CPU.
    pixels = np.asarray(picture)
    if pixels.dtype == np.uint8:
        pixels = pixels.astype(np.float32) / np.float32(255.0)
    pixels = pixels.astype(np.float32, copy=False)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


def to_tensors(image: Image.Image, mask: Image.Image) -> tuple[Tensor, Tensor]:
    """Convert to the dataset contract: float32 ``3 x H x W`` in [0, 1] and int64 ``H x W`` class ids."""
    return image_tensor(image.convert("RGB")), torch.from_numpy(np.array(mask, dtype=np.int64))


class SegmentationTransform:
    """Resize a pair to ``image_size`` squared, with random scale-crop and flip when ``augment``.

    Augmenting resizes to ``image_size * s`` (``s`` uniform in ``scale_range``) and crops or pads
    a random ``image_size`` window back out, then mirrors the pair with probability 1/2.

    Args:
        image_size: output side length.
        augment: apply the random transforms; datasets pass ``split == "train" and augment``.
        scale_range: ``(low, high)`` zoom factors for the random scale-crop, drawn uniformly;
            ``None`` disables it (flip only).
        ignore_index: mask value for pixels padded in by a zoom below 1.
    """

    def __init__(
        self,
        image_size: int,
        augment: bool = False,
        scale_range: tuple[float, float] | None = None,
        ignore_index: int = 255,
    ) -> None:
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        if scale_range is not None and not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}")
        self.image_size = image_size
        self.augment = augment
        self.scale_range = None if scale_range is None else (float(scale_range[0]), float(scale_range[1]))
        self.ignore_index = ignore_index

    def __call__(
        self, image: Image.Image, mask: Image.Image, rng: np.random.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Transform one pair; ``rng`` is required when ``augment`` is on."""
        if not self.augment:
            return to_tensors(*resize_pair(image, mask, self.image_size))
        if rng is None:
            raise ValueError("an augmenting SegmentationTransform needs a numpy Generator")
        if self.scale_range is None:
            image, mask = resize_pair(image, mask, self.image_size)
        else:
            scale = float(rng.uniform(*self.scale_range))
            crop_top_left = (float(rng.uniform()), float(rng.uniform()))
            image, mask = scale_crop_pair(image, mask, self.image_size, scale, crop_top_left, self.ignore_index)
        if rng.uniform() < 0.5:
            image, mask = hflip_pair(image, mask)
        return to_tensors(image, mask)
