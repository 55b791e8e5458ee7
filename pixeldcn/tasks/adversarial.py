"""Adversarial training of the generative VAE (Sagar's seed): WGAN-GP critic and encoder-generator steps.

The model is a :class:`~pixeldcn.models.GVAE` or :class:`~pixeldcn.models.GVAE3D` (anything with
``encoder`` (``x -> (mu, logvar)``), ``generator`` (``z -> x``), ``critic`` (``x -> N`` scores),
``latent_dim``, ``sample`` and ``reconstruct``). Images enter in the dataset's ``value_range``
(``[0, 1]`` unless the dataset says otherwise, e.g. ``CTVolumes``) and are mapped to [-1, 1], the
seed's scale and the generator's ``tanh`` range.

Training alternates two updates, each on its own mini-batch (Gulrajani et al. 2017, Algorithm 1):
``critic_steps`` critic updates, then one encoder-generator update. With ``x`` the real batch,
``(mu, logvar) = E(x)``, ``z_e = mu + exp(logvar / 2) eps``, ``z_p ~ N(0, I)`` and the two fakes
``x_r = G(z_e)`` (reconstruction) and ``x_p = G(z_p)`` (prior sample), both judged by the critic:

* critic: ``mean D(fake) - mean D(x) + gp_weight * GP`` over ``fake = [x_r, x_p]``, with
  ``GP = mean (|grad D(x_hat)|_2 - 1)^2`` at ``x_hat = a [x, x] + (1 - a) fake``, ``a ~ U(0, 1)``
  per sample (:func:`gradient_penalty`): each real image is paired with both of its fakes;
* encoder-generator (one network, one optimizer, as the seed says): ``recon + kl_weight * KL -
  adversarial_weight * mean D(fake)``, with ``recon`` the Gaussian negative log-likelihood
  ``|x - x_r|^2 / (2 decoder_std^2)`` summed over values (its constant dropped) and the analytic KL
  to ``N(0, I)``, both per image, averaged over the batch. These are the seed's three terms:
  reconstruction and KL (the VAE's ELBO) and the Wasserstein term. ``adversarial_weight=0`` trains
  the same networks as a plain VAE (the critic is then never updated): the Table 5 baseline.

The engine drives the updates through :meth:`AdversarialTask.train_step`, handing it the
networks, the optimizers of :meth:`AdversarialTask.configure_optimizers`, a gradient scaler and an
autocast context; :meth:`AdversarialTask.phase` says which network a given step trains. Everything
random in a step comes from the global generators, which the engine checkpoints.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.utils import make_grid

from pixeldcn.metrics.artefacts import ArtefactMeter
from pixeldcn.metrics.checkerboard import CheckerboardMeter
from pixeldcn.metrics.generative import (
    FrechetMeter,
    LikelihoodMeter,
    MMDMeter,
    MSSSIMMeter,
    gaussian_log_density,
    iwae_log_likelihood,
    train_feature_classifier,
)
from pixeldcn.tasks.base import IncompatibleDatasetError, sum_attributes
from pixeldcn.tasks.generation import RECONSTRUCTION_ROWS, batch_images
from pixeldcn.utils.figures import labelled_grid

Phase = Literal["critic", "generator"]
PHASES: tuple[Phase, ...] = ("critic", "generator")
SAMPLE_GRID_COLUMNS = 8
ZOOM = 4


def interpolate(real: Tensor, fake: Tensor, alpha: Tensor | None = None) -> Tensor:
    """``alpha real + (1 - alpha) fake`` per sample, detached from both and requiring gradients.

    ``alpha`` (``N`` weights) defaults to ``U(0, 1)`` draws from the global generator.
    """
    if alpha is None:
        alpha = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    alpha = alpha.to(real.dtype).view(-1, *([1] * (real.dim() - 1)))
    return (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)


def gradient_norm_penalty(scores: Tensor, interpolates: Tensor, scaler: torch.amp.GradScaler | None = None) -> Tensor:
    """``mean_i (|d scores_i / d interpolates_i|_2 - 1)^2`` with a graph that back-propagates into the critic.

    ``scores`` (``N``) must be the critic's scores of ``interpolates`` (``N x ...``), each depending on
    its own input only. With an enabled fp16 ``scaler`` the input gradients are taken of the scaled
    scores and unscaled, PyTorch's AMP recipe for gradient penalties, so that they do not underflow.
    """
    total = scores.sum()
    if scaler is not None:
        total = scaler.scale(total)
    (gradients,) = torch.autograd.grad(total, interpolates, create_graph=True)
    if scaler is not None:
        gradients = gradients / scaler.get_scale()
    return (gradients.flatten(1).float().norm(dim=1) - 1).square().mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    alpha: Tensor | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> Tensor:
    """WGAN-GP's penalty ``mean_i (|grad_x D(x_hat_i)|_2 - 1)^2`` at ``x_hat = alpha real + (1 - alpha) fake``.

    See :func:`interpolate` and :func:`gradient_norm_penalty`; the penalty trains the critic only.
    """
    interpolates = interpolate(real, fake, alpha)
    return gradient_norm_penalty(critic(interpolates), interpolates, scaler)


def _as_slices(images: Tensor) -> Tensor:
    """``N x C x D x H x W`` volumes as ``(N D) x C x H x W`` axial slices; 2D images unchanged."""
    if images.dim() == 5:
        return images.transpose(1, 2).flatten(0, 1)
    return images


@dataclass
class AdversarialState:
    """Meters of an evaluated split and the private generator of its noise (prior draws, IWAE samples)."""

    noise: torch.Generator
    mmd: MMDMeter
    diversity: MSSSIMMeter = field(default_factory=MSSSIMMeter)
    real_diversity: MSSSIMMeter = field(default_factory=MSSSIMMeter)
    likelihood: LikelihoodMeter = field(default_factory=LikelihoodMeter)
    samples: CheckerboardMeter = field(default_factory=CheckerboardMeter)
    real: CheckerboardMeter = field(default_factory=CheckerboardMeter)
    # The last 2x layer's grid (stages=1): samples against the real batch, reconstructions against their inputs.
    sample_artefacts: ArtefactMeter = field(default_factory=ArtefactMeter)
    reconstruction_artefacts: ArtefactMeter = field(default_factory=ArtefactMeter)
    frechet: FrechetMeter | None = None


class AdversarialTask:
    """Train a GVAE adversarially; evaluate MMD, MS-SSIM diversity, checkerboard, likelihoods (module doc).

    Args:
        dataset: the training dataset; its ``channels`` and ``image_size`` size the model, its
            ``value_range`` (default ``(0, 1)``) says how to map images to [-1, 1].
        lr: Adam learning rate of both optimizers (the seed: 1e-4 for all three networks).
        betas: Adam's betas (unstated by the seed; (0.5, 0.9) as in WGAN-GP).
        critic_steps: critic updates per encoder-generator update.
        gp_weight: weight of the gradient penalty (WGAN-GP's 10).
        adversarial_weight: weight of the Wasserstein term in the encoder-generator loss; 0 trains a VAE.
        kl_weight: weight of the KL term.
        decoder_std: standard deviation of the Gaussian decoder ``p(x | z)`` in [-1, 1] units; sets
            the reconstruction weight in training and the likelihoods in evaluation.
        iwae_samples: ``K`` of the importance-weighted log-likelihood estimate.
        mmd_bandwidth: ``sigma`` of the MMD's Gaussian kernel, per value in [-1, 1] units.
        sample_seed: seeds the evaluation noise and the pictures' prior draws.
        classifier_steps: training steps of the feature classifier of the Fréchet distance; 0 (no
            Fréchet distance) unless the dataset has class labels.
        num_vis_samples, num_vis_images: samples in ``samples.png``; inputs in ``reconstructions.png``.

    :meth:`summarize` reports (generated samples are drawn from the prior, as many as evaluated images):

    * ``mmd``: unbiased squared MMD between evaluated images and samples (``MMDMeter``);
    * ``msssim_samples``: mean MS-SSIM between pairs of samples (the seed's diversity: lower is more
      diverse), and ``msssim_real`` the same for pairs of evaluated images, the reference;
    * ``checkerboard_samples`` and ``checkerboard_real`` (volumes: of their axial slices);
    * artefacts on the grid of the last 2x layer (``pixeldcn.metrics.artefacts``, in units of the
      real images' variance): ``grid_energy_samples`` and ``grid_energy_real``, the power of samples
      and of real images at the frequencies (pi, 0), (0, pi), (pi, pi), to compare with each other;
      ``grid_energy_reconstructions``, ``residual_grid_energy`` and ``residual_checkerboard`` of the
      posterior-mean reconstructions, whose residual is zero for a perfect reconstruction;
    * ``elbo`` (one-sample), ``log_likelihood`` (IWAE bound, ``iwae_samples`` samples), ``kl`` per
      image in nats of the [-1, 1]-scaled data under the Gaussian decoder; ``recon_mse`` per value
      of the posterior-mean reconstruction, in [-1, 1] units;
    * ``frechet_classifier`` with ``classifier_steps > 0``: the classifier Fréchet distance (not FID).

    ``best.pt`` is the epoch with the lowest ``mmd``. In a distributed evaluation every process
    draws the same samples (same ``sample_seed``); summed meters then count them once per process,
    which leaves their means unchanged.
    """

    monitor = "mmd"
    monitor_mode: Literal["max", "min"] = "min"

    def __init__(
        self,
        dataset: Any,
        lr: float = 1e-4,
        betas: Sequence[float] = (0.5, 0.9),
        critic_steps: int = 5,
        gp_weight: float = 10.0,
        adversarial_weight: float = 1.0,
        kl_weight: float = 1.0,
        decoder_std: float = 1.0,
        iwae_samples: int = 16,
        mmd_bandwidth: float = 1.0,
        sample_seed: int = 0,
        classifier_steps: int = 0,
        num_vis_samples: int = 64,
        num_vis_images: int = 8,
    ) -> None:
        absent = [name for name in ("channels", "image_size") if not hasattr(dataset, name)]
        if absent:
            raise IncompatibleDatasetError(
                f"the adversarial task needs an image dataset with channels and image_size, but "
                f"{type(dataset).__name__} has no {', '.join(absent)}"
            )
        for name, value, least in [
            ("critic_steps", critic_steps, 1),
            ("iwae_samples", iwae_samples, 1),
            ("num_vis_samples", num_vis_samples, 1),
            ("num_vis_images", num_vis_images, 1),
            ("classifier_steps", classifier_steps, 0),
        ]:
            if value < least:
                raise ValueError(f"{name} must be at least {least}, got {value}")
        for name, value in [("lr", lr), ("decoder_std", decoder_std), ("mmd_bandwidth", mmd_bandwidth)]:
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        for name, value in [
            ("gp_weight", gp_weight),
            ("adversarial_weight", adversarial_weight),
            ("kl_weight", kl_weight),
        ]:
            if value < 0:
                raise ValueError(f"{name} must be non-negative, got {value}")
        low, high = (float(value) for value in getattr(dataset, "value_range", (0.0, 1.0)))
        self.channels = int(dataset.channels)
        self.image_size = int(dataset.image_size)
        self.value_range = (low, high)
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.critic_steps = critic_steps
        self.gp_weight = float(gp_weight)
        self.adversarial_weight = float(adversarial_weight)
        self.kl_weight = float(kl_weight)
        self.decoder_std = float(decoder_std)
        self.iwae_samples = iwae_samples
        self.mmd_bandwidth = float(mmd_bandwidth)
        self.sample_seed = sample_seed
        self.num_vis_samples = num_vis_samples
        self.num_vis_images = num_vis_images
        self.classifier: nn.Module | None = None
        if classifier_steps:
            names = getattr(dataset, "class_names", None)
            if not names:
                raise IncompatibleDatasetError(
                    f"task.classifier_steps={classifier_steps} needs class labels to train the Fréchet "
                    f"classifier, but {type(dataset).__name__} has no class_names; set task.classifier_steps=0"
                )
            self.classifier = train_feature_classifier(
                dataset, len(names), self.to_model_scale, classifier_steps, seed=sample_seed
            )

    # ------------------------------------------------------------------ wiring for the engine

    @property
    def model_kwargs(self) -> dict[str, Any]:
        return {"in_channels": self.channels, "image_size": self.image_size}

    @staticmethod
    def networks(model: nn.Module) -> dict[str, nn.Module]:
        """The separately trained networks; the engine may wrap each (DDP) and pass them to :meth:`train_step`."""
        return {"encoder": model.encoder, "generator": model.generator, "critic": model.critic}

    def configure_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        """One Adam per phase: ``"critic"`` over the critic, ``"generator"`` over encoder and generator."""
        encoder_generator = [*model.encoder.parameters(), *model.generator.parameters()]
        return {
            "critic": torch.optim.Adam(model.critic.parameters(), lr=self.lr, betas=self.betas),
            "generator": torch.optim.Adam(encoder_generator, lr=self.lr, betas=self.betas),
        }

    def phase(self, step: int) -> Phase:
        """The network that training step ``step`` (0-based, counted over the whole run) updates.

        Steps ``0 .. critic_steps - 1`` of every ``critic_steps + 1`` train the critic, the last
        one the encoder and generator; always the latter with ``adversarial_weight=0``.
        """
        if self.adversarial_weight == 0:
            return "generator"
        return "critic" if step % (self.critic_steps + 1) < self.critic_steps else "generator"

    def to_model_scale(self, images: Tensor) -> Tensor:
        """Images from the dataset's ``value_range`` to [-1, 1]."""
        low, high = self.value_range
        return (images - low) * (2.0 / (high - low)) - 1.0

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, float]]:
        """Not available: adversarial training needs two optimizers (see :meth:`train_step`)."""
        raise RuntimeError(
            "AdversarialTask alternates a critic and an encoder-generator optimizer; it trains through "
            "train_step(networks, batch, step, optimizers, scaler, autocast), which the engine calls instead"
        )

    # ------------------------------------------------------------------ training

    def _fakes(self, networks: Mapping[str, nn.Module], images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(fakes, mu, logvar)``: ``[G(z_e), G(z_p)]`` in one generator pass, and the posterior."""
        mu, logvar = networks["encoder"](images)
        codes = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        prior = torch.randn_like(mu)
        return networks["generator"](torch.cat([codes, prior])), mu, logvar

    def critic_loss(
        self, networks: Mapping[str, nn.Module], images: Tensor, scaler: torch.amp.GradScaler | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        """The critic's WGAN-GP loss on ``images`` (in [-1, 1]); encoder and generator get no gradient."""
        with torch.no_grad():
            fakes, _, _ = self._fakes(networks, images)
        # One critic pass over real, fake and interpolated images (a DDP module allows one forward
        # per backward); the critic scores each image independently, so batching them changes nothing.
        interpolates = interpolate(torch.cat([images, images]), fakes)
        scores = networks["critic"](torch.cat([images, fakes, interpolates]))
        count = len(images)
        real_scores, fake_scores = scores[:count].float(), scores[count : 3 * count].float()
        penalty = gradient_norm_penalty(scores[3 * count :], interpolates, scaler)
        distance = real_scores.mean() - fake_scores.mean()
        loss = -distance + self.gp_weight * penalty
        return loss, {"critic_loss": float(loss.detach()), "wasserstein": float(distance.detach()),
                      "gradient_penalty": float(penalty.detach())}  # fmt: skip

    def generator_loss(self, networks: Mapping[str, nn.Module], images: Tensor) -> tuple[Tensor, dict[str, float]]:
        """The encoder-generator loss on ``images``: Gaussian reconstruction + KL - Wasserstein term."""
        fakes, mu, logvar = self._fakes(networks, images)
        reconstructions = fakes[: len(images)]
        with torch.autocast(device_type=images.device.type, enabled=False):
            mu, logvar = mu.float(), logvar.float()
            squared = (reconstructions.float() - images.float()).square().flatten(1).sum(1)
            recon = (squared / (2 * self.decoder_std**2)).mean()
            kl = (-0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(1)).mean()
        loss = recon + self.kl_weight * kl
        logs = {"recon": float(recon.detach()), "kl": float(kl.detach())}
        if self.adversarial_weight > 0:
            adversarial = -networks["critic"](fakes).float().mean()
            loss = loss + self.adversarial_weight * adversarial
            logs["adversarial"] = float(adversarial.detach())
        logs["generator_loss"] = float(loss.detach())
        return loss, logs

    def train_step(
        self,
        networks: Mapping[str, nn.Module],
        batch: Any,
        step: int,
        optimizers: Mapping[str, torch.optim.Optimizer],
        scaler: torch.amp.GradScaler,
        autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
        on_every_rank: Callable[[bool], bool] = bool,
    ) -> dict[str, float]:
        """One update of the network :meth:`phase` names for ``step``; returns its logs.

        ``networks`` as from :meth:`networks` (possibly wrapped), in train mode; ``optimizers`` as
        from :meth:`configure_optimizers`; ``scaler`` scales the loss, steps the optimizer and is
        updated (a disabled scaler does nothing: float32 and bf16); ``autocast()`` opens the
        precision context of the forward passes. A non-finite loss is not back-propagated: the
        optimizer does not step and the logs carry the value (``critic_loss`` or
        ``generator_loss``) for the engine's ``on_nonfinite_loss`` policy. ``on_every_rank(ok)``
        is true when ``ok`` holds on every process (the engine's all-reduce), so that all processes
        of a DDP run skip together; alone, a process decides by itself.
        """
        phase = self.phase(step)
        images = self.to_model_scale(batch_images(batch))
        optimizer = optimizers[phase]
        for each in optimizers.values():  # the generator's loss leaves gradients in the critic, and back
            each.zero_grad(set_to_none=True)
        with autocast():
            if phase == "critic":
                loss, logs = self.critic_loss(networks, images, scaler if scaler.is_enabled() else None)
            else:
                loss, logs = self.generator_loss(networks, images)
        if not on_every_rank(math.isfinite(float(loss.detach()))):
            return logs
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        return logs

    # ------------------------------------------------------------------ evaluation

    def new_state(self) -> AdversarialState:
        return AdversarialState(
            noise=torch.Generator().manual_seed(self.sample_seed),
            mmd=MMDMeter(self.mmd_bandwidth),
            frechet=None if self.classifier is None else FrechetMeter(),
        )

    def _normal(self, shape: torch.Size, state: AdversarialState, like: Tensor) -> Tensor:
        return torch.randn(shape, generator=state.noise).to(like.device, like.dtype)

    def evaluate_batch(self, model: nn.Module, batch: Any, state: AdversarialState) -> None:
        """Add the batch's likelihood terms and compare it with as many prior samples (see the class doc)."""
        images = self.to_model_scale(batch_images(batch)).float()
        count = len(images)
        samples = model.decode(self._normal(torch.Size([count, model.latent_dim]), state, images)).float()
        if count >= 2:
            state.mmd.update(images, samples)
            half = count // 2 * 2
            state.diversity.update(samples[0:half:2], samples[1:half:2])
            state.real_diversity.update(images[0:half:2], images[1:half:2])
        state.samples.update(_as_slices(samples))
        state.real.update(_as_slices(images))
        state.sample_artefacts.update(_as_slices(samples), _as_slices(images))
        if state.frechet is not None:
            classifier = self.classifier.to(images.device)
            state.frechet.update(classifier.features(images), classifier.features(samples))

        mu, logvar = (value.float() for value in model.encode(images))
        log_var_x = 2 * math.log(self.decoder_std)
        log_weights, first = [], None
        for _ in range(self.iwae_samples):
            codes = mu + torch.exp(0.5 * logvar) * self._normal(mu.shape, state, mu)
            decoded = model.decode(codes).float()
            log_px = gaussian_log_density(images, decoded, log_var_x)
            if first is None:
                first = log_px
            log_weights.append(
                log_px
                + gaussian_log_density(codes, torch.zeros_like(codes), 0.0)
                - gaussian_log_density(codes, mu, logvar)
            )
        kl = -0.5 * (1 + logvar - mu.square() - logvar.exp()).double().sum(1)
        reconstruction = model.decode(mu).float()
        state.reconstruction_artefacts.update(_as_slices(reconstruction), _as_slices(images))
        state.likelihood.update(first - kl, iwae_log_likelihood(torch.stack(log_weights)), kl, reconstruction, images)

    def reduce_state(self, state: AdversarialState, reduce_sum: Callable[[Tensor], Tensor]) -> AdversarialState:
        """Every meter's sums added up over the processes."""
        for meter in (state.mmd, state.diversity, state.real_diversity, state.likelihood, state.frechet):
            if meter is not None:
                meter.reduce(reduce_sum)
        for checkerboard in (state.samples, state.real):
            sum_attributes(checkerboard, ("energy", "variance", "count"), reduce_sum)
        for artefacts in (state.sample_artefacts, state.reconstruction_artefacts):
            sum_attributes(artefacts, (*ArtefactMeter.SUMS, "count"), reduce_sum)
        return state

    def summarize(self, state: AdversarialState) -> dict[str, Any]:
        """The metrics of the class doc.

        Raises:
            ValueError: no batch of at least two images was evaluated.
        """
        if state.mmd.cross_pairs == 0:
            raise ValueError("AdversarialTask.summarize() needs at least one evaluated batch of 2 or more images")
        summary = {
            "mmd": state.mmd.compute(),
            "msssim_samples": state.diversity.compute(),
            "msssim_real": state.real_diversity.compute(),
            "checkerboard_samples": state.samples.compute(),
            "checkerboard_real": state.real.compute(),
            **state.likelihood.compute(),
        }
        samples, reconstructions = state.sample_artefacts.compute(), state.reconstruction_artefacts.compute()
        summary |= {
            "grid_energy_samples": samples["output_grid_energy"],
            "grid_energy_real": samples["target_grid_energy"],
            "grid_energy_reconstructions": reconstructions["output_grid_energy"],
            "residual_grid_energy": reconstructions["residual_grid_energy"],
            "residual_checkerboard": reconstructions["residual_checkerboard"],
        }
        if state.frechet is not None:
            summary["frechet_classifier"] = state.frechet.compute()
        return summary

    # ------------------------------------------------------------------ pictures

    def visualize(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        """``3 x H x W`` pictures in [0, 1] (volumes: their middle axial slice):

        * ``samples``: ``num_vis_samples`` prior samples (fixed by ``sample_seed``), 8 a row;
        * ``samples_zoom``: the top-left quarter of the first 8 samples enlarged ``ZOOM`` times
          (nearest neighbour), where a 2x up-sampler's checkerboard is visible pixel by pixel;
        * ``reconstructions``: the first ``num_vis_images`` inputs above their posterior-mean reconstructions
          (``reconstructions_labelled``: the same with its two rows titled).
        """
        images = self.to_model_scale(batch_images(batch))
        samples = model.sample(self.num_vis_samples, generator=torch.Generator().manual_seed(self.sample_seed))
        shown = images[: self.num_vis_images]
        reconstructions = torch.cat([shown, model.reconstruct(shown)])
        samples, reconstructions = _middle_slice(samples), _middle_slice(reconstructions)
        quarter = max(1, samples.shape[-1] // 2)
        crops = samples[:SAMPLE_GRID_COLUMNS, :, :quarter, :quarter]
        zoomed = F.interpolate(crops.float(), scale_factor=ZOOM, mode="nearest")
        paired = _grid(reconstructions, len(shown))
        return {
            "samples": _grid(samples, SAMPLE_GRID_COLUMNS),
            "samples_zoom": _grid(zoomed, SAMPLE_GRID_COLUMNS),
            "reconstructions": paired,
            "reconstructions_labelled": labelled_grid(paired, RECONSTRUCTION_ROWS),
        }

    def write_artifacts(self, summary: dict[str, Any], run_dir: str | os.PathLike[str]) -> None:
        """Nothing beyond the engine's files: the pictures are :meth:`visualize`'s ``images/*.png``."""


def _middle_slice(images: Tensor) -> Tensor:
    return images[:, :, images.shape[2] // 2] if images.dim() == 5 else images


def _grid(images: Tensor, columns: int) -> Tensor:
    """A grid of [-1, 1] images shown in [0, 1]."""
    shown = ((images.detach().float() + 1) / 2).clamp(0, 1).cpu()
    return make_grid(shown, nrow=columns, padding=2, pad_value=1.0)
