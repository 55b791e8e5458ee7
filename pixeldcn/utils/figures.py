"""Labelled pictures for run directories: row titles left of an image grid, a colour legend below it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

MARGIN = 4
SWATCH = 10


def labelled_grid(
    grid: Tensor, row_titles: Sequence[str], legend: Sequence[tuple[str, tuple[int, int, int]]] = ()
) -> Tensor:
    """``grid`` (``3 x H x W`` in [0, 1], ``len(row_titles)`` rows of equal height) with each row's
    title written to its left and, below, a legend: a colour swatch and a name per entry."""
    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
        return right - left, bottom - top

    pixels = grid.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    height, width = pixels.shape[:2]
    title_width = max((text_size(title)[0] for title in row_titles), default=0) + 2 * MARGIN
    line_height = max(SWATCH, text_size("Ag")[1]) + MARGIN
    # Legend entries flow left to right, wrapping at the figure's width.
    total_width = max(title_width + width, 120)
    placed, x, y = [], MARGIN, 0
    for name, _ in legend:
        entry_width = SWATCH + MARGIN + text_size(name)[0] + 3 * MARGIN
        if x + entry_width > total_width and x > MARGIN:
            x, y = MARGIN, y + line_height
        placed.append((x, y))
        x += entry_width
    legend_height = y + line_height + MARGIN if legend else 0

    figure = Image.new("RGB", (total_width, height + legend_height), (255, 255, 255))
    figure.paste(Image.fromarray(np.ascontiguousarray(pixels)), (title_width, 0))
    draw = ImageDraw.Draw(figure)
    row_height = height / max(len(row_titles), 1)
    for index, title in enumerate(row_titles):
        text_height = text_size(title)[1]
        draw.text((MARGIN, int((index + 0.5) * row_height - text_height / 2)), title, fill=(0, 0, 0), font=font)
    for (name, color), (x, y) in zip(legend, placed):
        top = height + MARGIN + y
        draw.rectangle([x, top, x + SWATCH - 1, top + SWATCH - 1], fill=tuple(color), outline=(0, 0, 0))
        draw.text((x + SWATCH + MARGIN, top), name, fill=(0, 0, 0), font=font)
    return torch.from_numpy(np.asarray(figure).copy()).permute(2, 0, 1).float().div(255.0)
