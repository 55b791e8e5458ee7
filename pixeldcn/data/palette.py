"""Class colour maps for drawing label masks."""

from __future__ import annotations

import numpy as np


def pascal_palette(num_classes: int) -> list[tuple[int, int, int]]:
    """The PASCAL VOC colour map (the devkit's ``labelcolormap``/bitget construction).

    Class ``c`` spreads its bits over the three channels from the most significant bit down:
    bit ``3k`` goes to red, ``3k+1`` to green and ``3k+2`` to blue, each at bit ``7-k``. Class 0 is
    black, 1 is (128, 0, 0), 2 is (0, 128, 0), 15 (person) is (192, 128, 128). VOC's
    ``SegmentationClass`` PNGs carry exactly these colours, and the same map serves the other
    datasets so masks look alike everywhere.
    """
    if not 1 <= num_classes <= 256:
        raise ValueError(f"num_classes must be in [1, 256] for an 8-bit colour map, got {num_classes}")
    palette = []
    for class_id in range(num_classes):
        red = green = blue = 0
        bits = class_id
        for shift in range(7, -1, -1):
            red |= (bits & 1) << shift
            green |= ((bits >> 1) & 1) << shift
            blue |= ((bits >> 2) & 1) << shift
            bits >>= 3
        palette.append((red, green, blue))
    return palette


def pil_palette(palette: list[tuple[int, int, int]], ignore_color: tuple[int, int, int] = (224, 224, 192)) -> list[int]:
    """Flatten a class palette into the 768 values ``PIL.Image.putpalette`` takes.

    Entries past the classes are black except index 255 (ignore), which gets ``ignore_color``;
    the default is the cream VOC uses for object borders.
    """
    flat = np.zeros((256, 3), dtype=np.uint8)
    flat[: len(palette)] = palette
    flat[255] = ignore_color
    return flat.reshape(-1).tolist()


def colorize_mask(
    mask: np.ndarray, palette: list[tuple[int, int, int]], ignore_color: tuple[int, int, int] = (224, 224, 192)
) -> np.ndarray:
    """Colour an ``H x W`` array of class ids (255 = ignore) as an ``H x W x 3`` uint8 RGB image."""
    lookup = np.asarray(pil_palette(palette, ignore_color), dtype=np.uint8).reshape(256, 3)
    return lookup[np.asarray(mask, dtype=np.int64)]
