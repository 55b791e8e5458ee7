"""Image generation with a VAE: negative-ELBO loss, ELBO and checkerboard metrics, sample pictures.

The model is a :class:`~pixeldcn.models.VAE` (or anything with its ``forward -> (recon, mu,
logvar)``, ``encode``, ``reparameterize``, ``decode``, ``sample`` and ``latent_dim``). Batches are image tensors or
``(images, labels)`` pairs; only the images are used, so any dataset with ``channels`` and
``image_size`` works, segmentation sets included.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torchvision.utils import make_grid

from pixeldcn.metrics.checkerboard import CheckerboardMeter
from pixeldcn.models.vae import vae_loss
from pixeldcn.tasks.base import IncompatibleDatasetError, sum_attributes
from pixeldcn.utils.figures import labelled_grid

RECON_LOSSES = ("bce", "mse")
SAMPLE_GRID_COLUMNS = 8
RECONSTRUCTION_ROWS = ("input", "reconstruction")


def batch_images(batch: Tensor | tuple | list) -> Tensor:
    """The images of a batch that is either an image tensor or a sequence whose first item is one."""
    return batch if isinstance(batch, Tensor) else batch[0]


@dataclass
class GenerationState:
    """Sums over an evaluated split, the checkerboard meters and the private noise generator.

    ``noise`` draws the reparameterisation noise of the ELBO estimate, so evaluating is
    reproducible and never moves the global generators that training depends on.
    """

    noise: torch.Generator
    images: int = 0
    recon: float = 0.0
    kl: float = 0.0
    squared_error: float = 0.0
    pixels: int = 0
    samples: CheckerboardMeter = field(default_factory=CheckerboardMeter)
    reconstructions: CheckerboardMeter = field(default_factory=CheckerboardMeter)
    real: CheckerboardMeter = field(default_factory=CheckerboardMeter)


class GenerationTask:
    """Train a VAE on images; evaluate its ELBO and the checkerboard artefacts of its outputs.

    Args:
        dataset: the training dataset; its ``channels`` and ``image_size`` size the model.
        recon_loss: ``"bce"`` (Bernoulli decoder) or ``"mse"`` (squared error), summed over pixels.
        beta: weight of the KL term in the training loss.
        num_score_samples: prior samples whose checkerboard score is reported.
        sample_seed: seeds the prior draws (samples, pictures) and the evaluation noise, so every
            epoch and every run with the same seed decodes the same codes.
        num_vis_samples: samples in the sample grid (``SAMPLE_GRID_COLUMNS`` per row).
        num_vis_images: columns of the reconstruction grid (inputs above, outputs below).
        interpolation_steps: decoded codes per interpolation row, endpoints included.
        interpolation_rows: rows of the interpolation strip, one per pair of evaluation images.

    Training minimises ``recon + beta * kl`` per image, averaged over the batch (see
    :func:`~pixeldcn.models.vae.vae_loss`), and logs both terms and the ELBO.

    :meth:`summarize` reports, per image of the evaluated split:

    * ``elbo``: ``-(recon + kl)`` with a single-sample estimate of the expectation. With ``"bce"``
      it is the evidence lower bound in nats of a Bernoulli decoder; with ``"mse"`` it is the
      negative objective of a Gaussian decoder up to its constant.
    * ``loss`` (``recon + beta * kl``), ``recon`` and ``kl``;
    * ``recon_mse``: mean squared error per pixel value (pixel and channel) of the reconstruction
      decoded from the posterior mean, comparable across reconstruction losses;
    * ``checkerboard_samples``: checkerboard score of ``num_score_samples`` prior samples;
    * ``checkerboard_reconstructions``: score of the posterior-mean reconstructions;
    * ``checkerboard_real``: score of the evaluated images themselves, the reference value.

    ``best.pt`` is the epoch with the highest validation ELBO.
    """

    monitor = "elbo"
    monitor_mode: Literal["max", "min"] = "max"

    def __init__(
        self,
        dataset: Any,
        recon_loss: Literal["bce", "mse"] = "bce",
        beta: float = 1.0,
        num_score_samples: int = 64,
        sample_seed: int = 0,
        num_vis_samples: int = 64,
        num_vis_images: int = 8,
        interpolation_steps: int = 10,
        interpolation_rows: int = 4,
    ) -> None:
        absent = [name for name in ("channels", "image_size") if not hasattr(dataset, name)]
        if absent:
            raise IncompatibleDatasetError(
                f"the generation task needs an image dataset with channels and image_size, but "
                f"{type(dataset).__name__} has no {', '.join(absent)}; choose a dataset that has them"
            )
        if recon_loss not in RECON_LOSSES:
            raise ValueError(f"recon_loss must be one of {', '.join(RECON_LOSSES)}, got {recon_loss!r}")
        if beta < 0:
            raise ValueError(f"beta must be non-negative, got {beta}")
        for name, value, least in [
            ("num_score_samples", num_score_samples, 1),
            ("num_vis_samples", num_vis_samples, 1),
            ("num_vis_images", num_vis_images, 1),
            ("interpolation_steps", interpolation_steps, 2),
            ("interpolation_rows", interpolation_rows, 1),
        ]:
            if value < least:
                raise ValueError(f"{name} must be at least {least}, got {value}")
        self.channels = int(dataset.channels)
        self.image_size = int(dataset.image_size)
        self.recon_loss = recon_loss
        self.beta = float(beta)
        self.num_score_samples = num_score_samples
        self.sample_seed = sample_seed
        self.num_vis_samples = num_vis_samples
        self.num_vis_images = num_vis_images
        self.interpolation_steps = interpolation_steps
        self.interpolation_rows = interpolation_rows

    @property
    def model_kwargs(self) -> dict[str, Any]:
        return {"in_channels": self.channels, "image_size": self.image_size}

    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.sample_seed)

    def loss(self, model: nn.Module, batch: Tensor | tuple) -> tuple[Tensor, dict[str, float]]:
        """``recon + beta * kl`` of the batch (a fresh ``z`` per image), logging ``recon``, ``kl``, ``elbo``."""
        images = batch_images(batch)
        recon, mu, logvar = model(images)
        terms = vae_loss(recon, images, mu, logvar, recon_loss=self.recon_loss, beta=self.beta)
        recon_term, kl = float(terms["recon"].detach()), float(terms["kl"].detach())
        return terms["loss"], {"recon": recon_term, "kl": kl, "elbo": -(recon_term + kl)}

    def new_state(self) -> GenerationState:
        return GenerationState(noise=self._generator())

    def evaluate_batch(self, model: nn.Module, batch: Tensor | tuple, state: GenerationState) -> None:
        """Add the batch's ELBO terms and checkerboard scores; the first batch also scores prior samples."""
        if state.samples.count == 0:
            state.samples.update(model.sample(self.num_score_samples, generator=self._generator()))
        images = batch_images(batch)
        mu, logvar = model.encode(images)
        recon = model.decode(model.reparameterize(mu, logvar, generator=state.noise))
        terms = vae_loss(recon, images, mu, logvar, recon_loss=self.recon_loss, beta=self.beta)
        mean_recon = model.decode(mu)
        count = images.shape[0]
        state.images += count
        state.recon += float(terms["recon"]) * count
        state.kl += float(terms["kl"]) * count
        state.squared_error += float((mean_recon.float() - images.float()).square().sum())
        state.pixels += images.numel()
        state.reconstructions.update(mean_recon)
        state.real.update(images)

    def reduce_state(self, state: GenerationState, reduce_sum: Callable[[Tensor], Tensor]) -> GenerationState:
        """The sums and checkerboard meters of all processes added up.

        The prior samples are the same on every process (same weights, same ``sample_seed``), so
        ``samples`` stays this process's. Each process draws its own evaluation noise, so the
        ELBO terms are an estimate as good as a single process's, not bit-equal to it.
        """
        sum_attributes(state, ("images", "recon", "kl", "squared_error", "pixels"), reduce_sum)
        for meter in (state.reconstructions, state.real):
            sum_attributes(meter, ("energy", "variance", "count"), reduce_sum)
        return state

    def summarize(self, state: GenerationState) -> dict[str, Any]:
        """Per-image means and checkerboard scores of the evaluated split (see the class doc).

        Raises:
            ValueError: no batch was evaluated.
        """
        if state.images == 0:
            raise ValueError("GenerationTask.summarize() called before any evaluate_batch()")
        recon, kl = state.recon / state.images, state.kl / state.images
        return {
            "elbo": -(recon + kl),
            "loss": recon + self.beta * kl,
            "recon": recon,
            "kl": kl,
            "recon_mse": state.squared_error / state.pixels,
            "checkerboard_samples": state.samples.compute(),
            "checkerboard_reconstructions": state.reconstructions.compute(),
            "checkerboard_real": state.real.compute(),
        }

    def visualize(self, model: nn.Module, batch: Tensor | tuple) -> dict[str, Tensor]:
        """Three pictures, each ``3 x H x W`` in [0, 1] (grey images repeated over RGB):

        * ``samples``: ``num_vis_samples`` decoded prior draws (fixed by ``sample_seed``), 8 a row
          (``SAMPLE_GRID_COLUMNS``);
        * ``reconstructions``: the first ``num_vis_images`` inputs above their posterior-mean
          reconstructions (``reconstructions_labelled``: the same with its two rows titled);
        * ``interpolation``: rows from pairs of inputs ``(0, 1), (2, 3), ...``, each the first
          input, ``interpolation_steps`` decodings of ``(1 - t) mu_a + t mu_b`` for ``t`` evenly
          from 0 to 1, then the second input. A batch of one image goes from it to ``z = 0``,
          the prior's mean, drawn as the decoding of ``z = 0`` at the right end.
        """
        images = batch_images(batch)
        samples = model.sample(self.num_vis_samples, generator=self._generator())
        shown = images[: self.num_vis_images]
        reconstructions = torch.cat([shown, model.reconstruct(shown)])

        mu, _ = model.encode(images)
        if len(images) >= 2:
            pairs = min(self.interpolation_rows, len(images) // 2)
            starts, ends = mu[0 : 2 * pairs : 2], mu[1 : 2 * pairs : 2]
            end_images = images[1 : 2 * pairs : 2]
        else:
            starts, ends = mu[:1], torch.zeros_like(mu[:1])
            end_images = model.decode(ends)
        weights = torch.linspace(0.0, 1.0, self.interpolation_steps, device=mu.device).view(1, -1, 1)
        codes = (1 - weights) * starts[:, None] + weights * ends[:, None]
        decoded = model.decode(codes.flatten(0, 1)).unflatten(0, codes.shape[:2])
        start_images = images[0 : 2 * len(starts) : 2]
        strip = torch.cat([start_images[:, None], decoded, end_images[:, None]], dim=1)
        paired = _grid(reconstructions, columns=len(shown))
        return {
            "samples": _grid(samples, columns=SAMPLE_GRID_COLUMNS),
            "reconstructions": paired,
            "reconstructions_labelled": labelled_grid(paired, RECONSTRUCTION_ROWS),
            "interpolation": _grid(strip.flatten(0, 1), columns=strip.shape[1]),
        }

    def write_artifacts(self, summary: dict[str, Any], run_dir: str | os.PathLike[str]) -> None:
        """Nothing beyond the engine's files: the pictures are :meth:`visualize`'s ``images/*.png``."""


def _grid(images: Tensor, columns: int) -> Tensor:
    return make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=columns, padding=2, pad_value=1.0)
