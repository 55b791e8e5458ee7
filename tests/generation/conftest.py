"""Writers of tiny generation datasets in their real on-disk formats (they use no pixeldcn reader)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# CelebA's aligned faces are 178 wide and 218 high.
CELEBA_SIZE = (178, 218)


@dataclass
class CelebAFixture:
    """What :func:`write_celeba_fixture` wrote: the file names of each split, in partition order."""

    root: Path
    files: dict[str, list[str]]

    def image_path(self, name: str) -> Path:
        return self.root / "celeba" / "img_align_celeba" / name


def write_celeba_fixture(
    root: Path, counts: tuple[int, int, int] = (4, 2, 2), bbox: bool = False, seed: int = 0
) -> CelebAFixture:
    """Write ``root/celeba`` as torchvision lays it out: smooth random 178 x 218 JPEGs and
    ``list_eval_partition.txt`` with ``counts`` pictures in train / val / test, the splits
    interleaved the way a partition file may list them (not grouped).

    With ``bbox``, also ``list_bbox_celeba.txt`` (count line, header, one box per picture: file
    ``i`` gets ``x_1 = 10 + i, y_1 = 20 + 2 i``, 60 x 80).
    """
    rng = np.random.default_rng(seed)
    base = Path(root) / "celeba"
    (base / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    labels = [split for split, count in enumerate(counts) for _ in range(count)]
    rng.shuffle(labels)
    files: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    lines, boxes = [], []
    width, height = CELEBA_SIZE
    for index, label in enumerate(labels):
        name = f"{index + 1:06d}.jpg"
        # A coarse colour field upsampled: JPEG keeps smooth pictures close to their pixels.
        coarse = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC).save(
            base / "img_align_celeba" / name, quality=95
        )
        files[("train", "val", "test")[label]].append(name)
        lines.append(f"{name} {label}\n")
        boxes.append(f"{name:<10} {10 + index:>4} {20 + 2 * index:>4} {60:>4} {80:>4}\n")
    (base / "list_eval_partition.txt").write_text("".join(lines))
    if bbox:
        header = f"{len(labels)}\nimage_id x_1 y_1 width height\n"
        (base / "list_bbox_celeba.txt").write_text(header + "".join(boxes))
    return CelebAFixture(Path(root), files)
