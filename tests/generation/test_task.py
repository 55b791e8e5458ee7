"""GenerationTask: its loss, evaluation summary and pictures, against hand-computed references."""

from __future__ import annotations

import math
from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from pixeldcn.metrics import checkerboard_score
from pixeldcn.models import VAE
from pixeldcn.tasks.base import IncompatibleDatasetError, Task
from pixeldcn.tasks.generation import GenerationTask
from pixeldcn.upsamplers import build_upsampler

LOGVAR = -60.0  # the stub's posterior is a point: exp(LOGVAR / 2) ~ 1e-13 noise


class PixelVAE(nn.Module):
    """A VAE whose code is the image itself: ``mu = logit(0.1 + 0.8 x)``, ``logvar`` fixed (``LOGVAR``
    unless given), ``decode = sigmoid``, so reconstructions of the mean are ``0.1 + 0.8 x`` and every
    term has a closed form. It samples codes with the real :meth:`VAE.reparameterize`."""

    reparameterize = staticmethod(VAE.reparameterize)

    def __init__(self, channels: int, size: int, logvar: float = LOGVAR) -> None:
        super().__init__()
        self.shape = (channels, size, size)
        self.latent_dim = channels * size * size
        self.logvar = logvar

    def encode(self, x):
        return torch.logit(0.1 + 0.8 * x).flatten(1), torch.full((len(x), self.latent_dim), self.logvar)

    def decode(self, z):
        return torch.sigmoid(z).view(-1, *self.shape)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    def reconstruct(self, x):
        return self.decode(self.encode(x)[0])

    def sample(self, n, generator=None):
        return self.decode(torch.randn(n, self.latent_dim, generator=generator))


def dataset(channels: int = 3, size: int = 16):
    return SimpleNamespace(channels=channels, image_size=size)


def expected_terms(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image BCE of ``r = 0.1 + 0.8 x`` against ``x`` and KL of ``N(logit r, e^LOGVAR)``, in float64."""
    r = 0.1 + 0.8 * x
    bce = -(x * np.log(r) + (1 - x) * np.log(1 - r)).reshape(len(x), -1).sum(1)
    mu = np.log(r / (1 - r))
    kl = (-0.5 * (1 + LOGVAR - mu**2 - math.exp(LOGVAR))).reshape(len(x), -1).sum(1)
    return bce, kl


@pytest.fixture
def images():
    return torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64).float()


def test_the_task_implements_the_protocol_and_sizes_the_model_from_the_data():
    task = GenerationTask(dataset(channels=1, size=28))
    assert isinstance(task, Task)
    assert task.model_kwargs == {"in_channels": 1, "image_size": 28}
    assert (task.monitor, task.monitor_mode) == ("elbo", "max")


def test_datasets_without_image_sizes_and_bad_settings_are_refused():
    with pytest.raises(IncompatibleDatasetError, match="no channels, image_size"):
        GenerationTask(SimpleNamespace())
    with pytest.raises(ValueError, match="recon_loss"):
        GenerationTask(dataset(), recon_loss="l1")
    with pytest.raises(ValueError, match="interpolation_steps must be at least 2"):
        GenerationTask(dataset(), interpolation_steps=1)


def test_loss_is_reconstruction_plus_beta_kl_averaged_over_the_batch(images):
    task = GenerationTask(dataset(), beta=0.5)
    bce, kl = expected_terms(images.double().numpy())
    for batch in (images, (images, torch.zeros(6, dtype=torch.long)), [images, torch.zeros(6)]):
        loss, logs = task.loss(PixelVAE(3, 16), batch)
        assert loss.item() == pytest.approx(bce.mean() + 0.5 * kl.mean(), rel=1e-5)
        assert logs["recon"] == pytest.approx(bce.mean(), rel=1e-5)
        assert logs["kl"] == pytest.approx(kl.mean(), rel=1e-5)
        assert logs["elbo"] == pytest.approx(-(bce.mean() + kl.mean()), rel=1e-5)


def test_mse_reconstruction_is_the_summed_squared_error(images):
    task = GenerationTask(dataset(), recon_loss="mse")
    _, logs = task.loss(PixelVAE(3, 16), images)
    x = images.double().numpy()
    assert logs["recon"] == pytest.approx(((0.1 - 0.2 * x) ** 2).reshape(6, -1).sum(1).mean(), rel=1e-5)


def test_summary_over_batches_equals_the_closed_form_over_the_split(images):
    task = GenerationTask(dataset(), beta=0.5, num_score_samples=5, sample_seed=3)
    model = PixelVAE(3, 16)
    state = task.new_state()
    task.evaluate_batch(model, (images[:4], torch.zeros(4)), state)
    task.evaluate_batch(model, images[4:], state)
    summary = task.summarize(state)

    x = images.double().numpy()
    bce, kl = expected_terms(x)
    reconstructions = 0.1 + 0.8 * images
    samples = torch.sigmoid(torch.randn(5, 3 * 16 * 16, generator=torch.Generator().manual_seed(3))).view(5, 3, 16, 16)
    assert summary["elbo"] == pytest.approx(-(bce.mean() + kl.mean()), rel=1e-5)
    assert summary["loss"] == pytest.approx(bce.mean() + 0.5 * kl.mean(), rel=1e-5)
    assert summary["recon"] == pytest.approx(bce.mean(), rel=1e-5)
    assert summary["kl"] == pytest.approx(kl.mean(), rel=1e-5)
    assert summary["recon_mse"] == pytest.approx(((0.1 - 0.2 * x) ** 2).mean(), rel=1e-5)
    assert summary["checkerboard_reconstructions"] == pytest.approx(checkerboard_score(reconstructions), rel=1e-5)
    assert summary["checkerboard_real"] == pytest.approx(checkerboard_score(images), rel=1e-9)
    assert summary["checkerboard_samples"] == pytest.approx(checkerboard_score(samples), rel=1e-9)
    with pytest.raises(ValueError, match="before any evaluate_batch"):
        task.summarize(task.new_state())


@pytest.mark.parametrize("logvar", [0.0, math.log(4.0)])
def test_the_evaluation_elbo_decodes_codes_drawn_at_the_posterior_s_scale(images, logvar):
    # The first evaluated batch takes the first draws of a generator seeded with sample_seed.
    task = GenerationTask(dataset(), num_score_samples=2, sample_seed=7)
    state = task.new_state()
    task.evaluate_batch(PixelVAE(3, 16, logvar=logvar), images, state)
    summary = task.summarize(state)

    x = images.double().flatten(1)
    mu = torch.logit(0.1 + 0.8 * x)
    noise = torch.randn(mu.shape, generator=torch.Generator().manual_seed(7)).double()
    r = torch.sigmoid(mu + math.exp(logvar / 2) * noise)  # sd 1, then 2
    bce = -(x * r.log() + (1 - x) * (1 - r).log()).sum(1)
    kl = -0.5 * (1 + logvar - mu**2 - math.exp(logvar)).sum(1)
    assert summary["recon"] == pytest.approx(bce.mean().item(), rel=1e-5)
    assert summary["kl"] == pytest.approx(kl.mean().item(), rel=1e-5)
    assert summary["elbo"] == pytest.approx(-(bce + kl).mean().item(), rel=1e-5)


@pytest.fixture
def vae():
    torch.manual_seed(0)
    model = VAE(partial(build_upsampler, "deconv"), image_size=16, latent_dim=8, width=4)
    return model.eval()


@torch.no_grad()
def test_evaluation_is_reproducible_and_leaves_the_global_generator_alone(vae, images):
    task = GenerationTask(dataset(), num_score_samples=4)

    def evaluate():
        state = task.new_state()
        task.evaluate_batch(vae, images, state)
        return task.summarize(state)

    before = torch.get_rng_state()
    first = evaluate()
    assert torch.equal(torch.get_rng_state(), before)
    assert evaluate() == first
    # The prior samples are the model's own, drawn with the task's seed.
    expected = checkerboard_score(vae.sample(4, generator=torch.Generator().manual_seed(0)))
    assert first["checkerboard_samples"] == pytest.approx(expected, rel=1e-9)


def tile(grid: torch.Tensor, row: int, column: int, size: int) -> torch.Tensor:
    """Image ``(row, column)`` of a ``make_grid`` picture with padding 2."""
    top, left = 2 + row * (size + 2), 2 + column * (size + 2)
    return grid[:, top : top + size, left : left + size]


@torch.no_grad()
def test_pictures_show_samples_reconstructions_and_interpolations(vae, images):
    task = GenerationTask(dataset(), num_vis_samples=10, num_vis_images=3, interpolation_steps=4, interpolation_rows=2)
    pictures = task.visualize(vae, (images, torch.zeros(6)))
    assert set(pictures) == {"samples", "reconstructions", "reconstructions_labelled", "interpolation"}

    samples = vae.sample(10, generator=torch.Generator().manual_seed(0))
    assert pictures["samples"].shape == (3, 2 + 2 * 18, 2 + 8 * 18)  # 8 per row
    torch.testing.assert_close(tile(pictures["samples"], 1, 1, 16), samples[9])

    grid = pictures["reconstructions"]
    assert grid.shape == (3, 2 + 2 * 18, 2 + 3 * 18)
    for column in range(3):
        torch.testing.assert_close(tile(grid, 0, column, 16), images[column])
        torch.testing.assert_close(tile(grid, 1, column, 16), vae.reconstruct(images[column : column + 1])[0])
    # The labelled picture is the same grid with a column of row titles (dark text on white) to its left.
    labelled, (height, width) = pictures["reconstructions_labelled"], grid.shape[1:]
    quantised = (grid * 255).round() / 255
    offsets = [
        x for x in range(labelled.shape[-1] - width + 1) if torch.equal(labelled[:, :height, x : x + width], quantised)
    ]
    assert len(offsets) == 1 and offsets[0] > 0 and (labelled[:, :height, : offsets[0]] < 0.5).any()

    # Rows from pairs (0, 1) and (2, 3): input, 4 decodings from mu_a to mu_b, input.
    strip = pictures["interpolation"]
    assert strip.shape == (3, 2 + 2 * 18, 2 + 6 * 18)
    mu, _ = vae.encode(images)
    for row, (a, b) in enumerate([(0, 1), (2, 3)]):
        torch.testing.assert_close(tile(strip, row, 0, 16), images[a])
        torch.testing.assert_close(tile(strip, row, 5, 16), images[b])
        middle = vae.decode(mu[a : a + 1] * 2 / 3 + mu[b : b + 1] / 3)[0]
        torch.testing.assert_close(tile(strip, row, 2, 16), middle, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(tile(strip, row, 4, 16), vae.decode(mu[b : b + 1])[0], atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_one_grey_image_interpolates_to_the_prior_mean():
    torch.manual_seed(0)
    model = VAE(partial(build_upsampler, "pixeldcl"), in_channels=1, image_size=12, latent_dim=4, width=4).eval()
    task = GenerationTask(dataset(channels=1, size=12), num_vis_samples=3, interpolation_steps=3)
    image = torch.rand(1, 1, 12, 12)
    pictures = task.visualize(model, image)
    strip = pictures["interpolation"]
    assert strip.shape == (3, 2 + 14, 2 + 5 * 14)
    # Grey pictures are repeated over RGB; the right end is the decoding of z = 0.
    torch.testing.assert_close(tile(strip, 0, 0, 12), image[0].expand(3, -1, -1))
    torch.testing.assert_close(tile(strip, 0, 4, 12), model.decode(torch.zeros(1, 4))[0].expand(3, -1, -1))
