"""Trained models for use: ``load_model(run dir or checkpoint)`` with their preprocessing and classes.

Every checkpoint ``train.py`` writes holds, besides the weights, the run's configuration and an
``inference`` entry (:func:`inference_metadata`): the task, what the model was built with from
the data (``model_kwargs``), the input size, channels and normalisation (the training mean of
``normalization=authors`` included) and, for segmentation, the class names and palette. So a
model is rebuilt and fed like in training without the dataset at hand::

    model = pixeldcn.load_model("outputs/voc/unet/pixeldcl/2026-12-01_10-00-00")
    mask = model.predict_mask(Image.open("dog.jpg"))          # H x W class ids, the image's size
    model.mask_image(mask).save("dog.png")                     # a VOC-style palette PNG

Checkpoints written before they held ``inference`` are read through the run's ``.hydra/``
configuration, whose training split then gives the classes and the mean.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from PIL import Image
from torch import Tensor, nn

from pixeldcn.config.checkpoint_config import checkpoint_file, saved_run_config
from pixeldcn.data.normalization import authors_normalize
from pixeldcn.data.palette import pil_palette
from pixeldcn.data.transforms import image_tensor
from pixeldcn.engine.checkpoint import load_checkpoint
from pixeldcn.tasks.segmentation import SegmentationTask, predicted_classes

log = logging.getLogger(__name__)

INFERENCE_KEY = "inference"
"""The checkpoint entry :func:`inference_metadata` fills."""


class UnsupportedUseError(ValueError):
    """The loaded model cannot do what was asked (a mask from a generation model, samples from a
    model without a prior)."""


def inference_metadata(dataset: Any, task: Any) -> dict[str, Any]:
    """What using a model trained on ``dataset`` for ``task`` needs besides its weights and config.

    Plain values only (checkpoints load with ``weights_only=True``): ``task`` (``segmentation`` or
    ``generation``), ``model_kwargs``, ``image_size``, ``channels``, ``normalization``,
    ``pixel_mean`` (0-255 per channel, ``normalization=authors`` only) and for segmentation
    ``num_classes``, ``class_names``, ``palette`` and ``ignore_index``.
    """
    pixel_mean = getattr(dataset, "pixel_mean", None)
    metadata: dict[str, Any] = {
        "task": "segmentation" if isinstance(task, SegmentationTask) else "generation",
        "model_kwargs": dict(task.model_kwargs),
        "image_size": None if getattr(dataset, "image_size", None) is None else int(dataset.image_size),
        "channels": int(getattr(dataset, "channels", 3)),
        "normalization": str(getattr(dataset, "normalization", "unit")),
        "pixel_mean": None if pixel_mean is None else [float(value) for value in pixel_mean],
    }
    if isinstance(task, SegmentationTask):
        metadata.update(
            num_classes=task.num_classes,
            class_names=list(task.class_names),
            palette=[[int(channel) for channel in color] for color in dataset.palette],
            ignore_index=task.ignore_index,
        )
    return metadata


@dataclass(frozen=True)
class Preprocessing:
    """A picture as the model's input, as the training data was fed: channels, square size, scale.

    ``normalization="unit"``: values in [0, 1]; ``"authors"``: 0 .. 255 minus ``pixel_mean``.
    """

    image_size: int
    channels: int
    normalization: str = "unit"
    pixel_mean: tuple[float, ...] | None = None

    def __call__(self, picture: Image.Image) -> Tensor:
        """``C x S x S`` float32: converted to RGB (or grey), resized bilinearly to ``image_size``, normalised."""
        picture = picture.convert("RGB" if self.channels == 3 else "L")
        picture = picture.resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
        image = image_tensor(picture)
        if self.normalization == "authors":
            if self.pixel_mean is None:
                raise ValueError("normalization=authors needs the training pixel_mean")
            image = authors_normalize(image, torch.tensor(self.pixel_mean, dtype=torch.float64))
        return image


@dataclass
class LoadedModel:
    """A trained network in ``eval()`` mode with what feeding it and reading its output takes.

    Attributes:
        model: the network, on ``device``, in ``eval()`` mode.
        preprocess: a picture to the model's input (:class:`Preprocessing`).
        task: ``"segmentation"`` or ``"generation"``.
        num_classes, class_names, palette, ignore_index: the labels (segmentation; ``None`` otherwise).
        config: the run's resolved configuration.
        checkpoint: the file the weights came from; epoch: the epochs it had trained.
    """

    model: nn.Module
    preprocess: Preprocessing
    task: str
    config: DictConfig
    checkpoint: Path
    epoch: int | None
    device: torch.device
    num_classes: int | None = None
    class_names: list[str] | None = None
    palette: list[tuple[int, int, int]] | None = None
    ignore_index: int | None = None

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Any:
        """The model's output for a batch of preprocessed ``images`` (moved to ``device``)."""
        return self.model(images.to(self.device))

    @torch.no_grad()
    def predict_scores(self, picture: Image.Image) -> Tensor:
        """Class scores ``C x H x W`` at the picture's own size (bilinear from the model's output, as mmseg)."""
        scores = self(self.preprocess(picture).unsqueeze(0))
        width, height = picture.size
        return F.interpolate(scores.float(), size=(height, width), mode="bilinear", align_corners=False)[0]

    def predict_mask(self, picture: Image.Image) -> np.ndarray:
        """The class of highest score at each pixel of ``picture``: ``H x W`` uint8 at its own size."""
        self._require("segmentation")
        return predicted_classes(self.predict_scores(picture).unsqueeze(0))[0].to(torch.uint8).cpu().numpy()

    def mask_image(self, mask: np.ndarray) -> Image.Image:
        """A mask of class ids as a palette PNG image (mode ``P``, the VOC convention)."""
        self._require("segmentation")
        image = Image.fromarray(np.asarray(mask, dtype=np.uint8), mode="P")
        image.putpalette(pil_palette(list(self.palette)))
        return image

    def overlay(self, picture: Image.Image, mask: np.ndarray, alpha: float = 0.5) -> Image.Image:
        """``picture`` with the mask's class colours blended in at ``alpha`` (RGB)."""
        colors = self.mask_image(mask).convert("RGB")
        return Image.blend(picture.convert("RGB"), colors, alpha)

    @torch.no_grad()
    def sample(self, num_samples: int, seed: int = 0) -> Tensor:
        """``num_samples`` images decoded from prior codes (generation models), ``N x C x S x S`` in [0, 1]."""
        self._require("generation")
        if not hasattr(self.model, "sample"):
            raise UnsupportedUseError(f"{type(self.model).__name__} cannot draw samples; pass images to reconstruct")
        generator = torch.Generator().manual_seed(seed)
        return self.model.sample(num_samples, generator=generator).float().cpu()

    @torch.no_grad()
    def reconstruct(self, picture: Image.Image) -> Tensor:
        """The model's reconstruction of ``picture`` (generation models), ``C x S x S``."""
        self._require("generation")
        return self.model.reconstruct(self.preprocess(picture).unsqueeze(0).to(self.device))[0].float().cpu()

    def _require(self, task: str) -> None:
        if self.task != task:
            raise UnsupportedUseError(f"{self.checkpoint} holds a {self.task} model; this needs a {task} one")


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """The model of a run directory (its ``best.pt``, else ``last.pt``) or of a checkpoint file.

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        CheckpointError: the file is not a readable checkpoint.
        ConfigError: it holds no configuration and has no run directory to read one from.
    """
    from pixeldcn.build import build_dataset, build_network, build_task

    device = torch.device(device)
    path = checkpoint_file(path)
    checkpoint = load_checkpoint(path, map_location=device)
    config = saved_run_config(checkpoint, path)
    info = checkpoint.get(INFERENCE_KEY)
    if info is None:
        log.info("%s predates stored inference settings: reading them from its training split", path)
        train_set = build_dataset(config, "train")
        info = inference_metadata(train_set, build_task(config, train_set))
    model = build_network(config, info["model_kwargs"])
    model.load_state_dict(checkpoint["model"])
    model.to(device).eval()
    mean = info.get("pixel_mean")
    preprocess = Preprocessing(
        info["image_size"], info["channels"], info["normalization"], None if mean is None else tuple(mean)
    )
    palette = info.get("palette")
    return LoadedModel(
        model=model,
        preprocess=preprocess,
        task=info["task"],
        config=config,
        checkpoint=path,
        epoch=checkpoint.get("epoch"),
        device=device,
        num_classes=info.get("num_classes"),
        class_names=info.get("class_names"),
        palette=None if palette is None else [tuple(color) for color in palette],
        ignore_index=info.get("ignore_index"),
    )
