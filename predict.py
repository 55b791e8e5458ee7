"""Predict with a trained model: ``python predict.py ckpt=<run dir or .pt> input=<image|folder|glob> output=<dir>``.

Segmentation models write one palette PNG mask per image (``<output>/<name>.png``: mode ``P``
with the dataset's palette, the input's size, as VOC's ``SegmentationClass``) and with
``overlay=true`` the image with the mask blended in (``<name>_overlay.png``). Generation models
reconstruct the input images (``<name>_reconstruction.png``), or without ``input=`` decode
``num_samples`` prior samples (``sample_<i>.png``, seeded by ``seed``).

Options (``key=value``, as train.py): ``ckpt`` (required), ``input``, ``output`` (default
``predictions``), ``overlay`` (false), ``alpha`` (0.5), ``num_samples`` (16), ``seed`` (0),
``device`` (auto: cuda when available, else cpu).
"""

from __future__ import annotations

import glob
import logging
import sys
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
OPTIONS = {
    "ckpt": None,
    "input": None,
    "output": "predictions",
    "overlay": "false",
    "alpha": "0.5",
    "num_samples": "16",
    "seed": "0",
    "device": "auto",
}
TRUE, FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")

log = logging.getLogger("predict")


class UsageError(ValueError):
    """A wrong command line or input: reported in one line, exit code 1."""


def parse_options(argv: list[str]) -> dict[str, str | None]:
    """``key=value`` arguments over :data:`OPTIONS`' defaults."""
    options = dict(OPTIONS)
    for argument in argv:
        key, assigned, value = argument.partition("=")
        if not assigned or key not in OPTIONS:
            raise UsageError(f"`{argument}` is not an option: use key=value with a key among {', '.join(OPTIONS)}")
        options[key] = value
    if not options["ckpt"]:
        raise UsageError("ckpt= is required: a run directory or its best.pt / last.pt")
    return options


def flag(options: dict[str, str | None], key: str) -> bool:
    value = str(options[key]).lower()
    if value not in TRUE + FALSE:
        raise UsageError(f"{key}={options[key]} is not true or false")
    return value in TRUE


def number(options: dict[str, str | None], key: str, kind: type) -> float | int:
    try:
        return kind(options[key])
    except ValueError:
        raise UsageError(f"{key}={options[key]} is not a {kind.__name__}") from None


def input_images(pattern: str) -> list[Path]:
    """The images ``pattern`` names: one file, the image files of a folder, or a glob (sorted)."""
    path = Path(pattern)
    if path.is_file():
        return [path]
    candidates = sorted(path.iterdir()) if path.is_dir() else sorted(Path(name) for name in glob.glob(pattern))
    images = [
        candidate for candidate in candidates if candidate.is_file() and candidate.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not images:
        raise UsageError(
            f"input={pattern} names no image files ({', '.join(IMAGE_SUFFIXES)}): pass an image, a folder or a glob"
        )
    return images


def main(argv: list[str]) -> list[Path]:
    """Run the command line ``argv`` (without the program name); return the files written."""
    options = parse_options(argv)
    overlay = flag(options, "overlay")
    alpha = float(number(options, "alpha", float))
    num_samples = int(number(options, "num_samples", int))
    seed = int(number(options, "seed", int))

    import torch
    from PIL import Image

    from pixeldcn.engine.outputs import save_png
    from pixeldcn.inference import load_model

    device = options["device"]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    loaded = load_model(options["ckpt"], device=device)
    output = Path(options["output"])
    output.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if loaded.task == "generation" and options["input"] is None:
        for index, image in enumerate(loaded.sample(num_samples, seed=seed)):
            written.append(save_png(_rgb(image), output / f"sample_{index:03d}.png"))
    else:
        if options["input"] is None:
            raise UsageError("input= is required for a segmentation model: an image, a folder or a glob")
        for path in input_images(options["input"]):
            with Image.open(path) as opened:
                picture = opened.convert("RGB")
            if loaded.task == "generation":
                written.append(save_png(_rgb(loaded.reconstruct(picture)), output / f"{path.stem}_reconstruction.png"))
                continue
            mask = loaded.predict_mask(picture)
            written.append(_save(loaded.mask_image(mask), output / f"{path.stem}.png"))
            if overlay:
                written.append(_save(loaded.overlay(picture, mask, alpha), output / f"{path.stem}_overlay.png"))
    log.info("%d files written to %s (%s, epoch %s)", len(written), output, loaded.checkpoint, loaded.epoch)
    return written


def _rgb(image):
    return image.clamp(0, 1).expand(3, -1, -1) if image.shape[0] == 1 else image.clamp(0, 1)


def _save(image, path: Path) -> Path:
    import io

    from pixeldcn.utils.io import atomic_write_bytes

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from pixeldcn.config.errors import ConfigError
    from pixeldcn.engine.checkpoint import CheckpointError
    from pixeldcn.inference import UnsupportedUseError

    try:
        main(sys.argv[1:])
    except (UsageError, ConfigError, CheckpointError, FileNotFoundError, UnsupportedUseError) as error:
        log.error("predict.py: %s", error)
        sys.exit(1)
