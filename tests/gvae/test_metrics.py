"""Generative metrics against hand-computed cases, independent implementations and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch.utils.data import TensorDataset
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

from pixeldcn.metrics.generative import (
    STANDARD_BETAS,
    FeatureMoments,
    LikelihoodMeter,
    MMDMeter,
    MSSSIMMeter,
    frechet_distance,
    gaussian_log_density,
    iwae_log_likelihood,
    msssim,
    msssim_settings,
    train_feature_classifier,
)


def doubled(tensor: torch.Tensor) -> torch.Tensor:
    """What an all-reduce over two processes holding the same state returns."""
    return 2 * tensor


# ---------------------------------------------------------------------- MMD


def test_mmd_is_the_unbiased_estimate_of_a_hand_computed_case():
    # Samples {0, 1} and {0, 2}, sigma 1: within {0,1}: k(0,1) = e^-1/2; within {0,2}: e^-2; across:
    # k(0,0) = 1, k(0,2) = e^-2, k(1,0) = k(1,2) = e^-1/2, mean (1 + e^-2 + 2 e^-1/2) / 4.
    expected = math.exp(-0.5) + math.exp(-2) - 2 * (1 + math.exp(-2) + 2 * math.exp(-0.5)) / 4
    meter = MMDMeter(bandwidth=1.0)
    meter.update(torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0]]))
    assert meter.compute() == pytest.approx(expected, abs=1e-12)
    # The distance is averaged over values: the same samples repeated over 4 pixels give the same MMD.
    per_pixel = MMDMeter(bandwidth=1.0)

    def four_pixels(values: list[float]) -> torch.Tensor:
        return torch.tensor(values).view(2, 1, 1, 1).expand(2, 1, 2, 2)

    per_pixel.update(four_pixels([0.0, 1.0]), four_pixels([0.0, 2.0]))
    assert per_pixel.compute() == pytest.approx(expected, abs=1e-12)
    # A wider kernel: sigma 2 divides every squared distance by 4.
    wide = MMDMeter(bandwidth=2.0)
    wide.update(torch.tensor([[0.0], [2.0]]), torch.tensor([[0.0], [4.0]]))
    assert wide.compute() == pytest.approx(expected, abs=1e-12)


def test_mmd_accumulates_blocks_and_processes():
    torch.manual_seed(0)
    real, fake = torch.randn(6, 3), torch.randn(6, 3) + 1
    blocks = MMDMeter(0.5)
    blocks.update(real[:3], fake[:3])
    blocks.update(real[3:], fake[3:])
    singles = []
    for part in (slice(0, 3), slice(3, 6)):
        single = MMDMeter(0.5)
        single.update(real[part], fake[part])
        singles.append(single)
    # Equal pair counts per block: the block estimator is the mean of the blocks' U-statistics.
    assert blocks.compute() == pytest.approx(sum(s.compute() for s in singles) / 2, abs=1e-12)
    value = blocks.compute()
    blocks.reduce(doubled)
    assert blocks.compute() == pytest.approx(value, abs=1e-12) and blocks.cross_pairs == 2 * 18
    whole = MMDMeter(0.5)
    whole.update(real, real[torch.randperm(6)] + 0.0)
    shifted = MMDMeter(0.5)
    shifted.update(real, real + 2.0)
    assert whole.compute() < 0.05 < shifted.compute()


# ---------------------------------------------------------------------- MS-SSIM


def test_msssim_settings_fit_small_images_and_keep_the_standard_setting_for_large_ones():
    kernel, sigma, betas = msssim_settings(28)
    assert (kernel, len(betas)) == (7, 3) and sum(betas) == pytest.approx(1)
    assert int(3.5 * sigma + 0.5) * 2 + 1 == 7  # torchmetrics' Gaussian window from sigma
    assert betas[0] / betas[1] == pytest.approx(STANDARD_BETAS[0] / STANDARD_BETAS[1])
    assert msssim_settings(32)[0] == 7 and len(msssim_settings(128)[2]) == 5
    assert msssim_settings(176) == (11, 1.5, STANDARD_BETAS)
    kernel, sigma, betas = msssim_settings(4)
    assert (kernel, betas, int(3.5 * sigma + 0.5) * 2 + 1) == (3, (1.0,), 3)


@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (2, 3, 64, 64), (2, 1, 16, 16, 16), (2, 1, 6, 6), (2, 1, 4, 4)])
def test_msssim_of_an_image_with_itself_is_one(shape):
    torch.manual_seed(0)
    images = torch.rand(shape) * 2 - 1
    torch.testing.assert_close(msssim(images, images, data_range=2.0), torch.ones(shape[0]))
    other = (images + 0.3 * torch.randn(shape)).clamp(-1, 1)
    assert (msssim(images, other, data_range=2.0) < 0.999).all()


def test_msssim_is_torchmetrics_standard_one_on_large_images():
    torch.manual_seed(0)
    a = torch.rand(2, 1, 180, 180)
    b = (a + 0.2 * torch.randn_like(a)).clamp(0, 1)
    reference = multiscale_structural_similarity_index_measure(a, b, data_range=1.0, reduction="none", normalize="relu")
    torch.testing.assert_close(msssim(a, b, data_range=1.0), reference)


def test_msssim_meter_is_the_mean_over_pairs_of_all_batches():
    torch.manual_seed(0)
    a, b = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    b[0] = a[0]
    meter = MSSSIMMeter(data_range=1.0)
    meter.update(a[:1], b[:1])
    meter.update(a[1:], b[1:])
    assert meter.compute() == pytest.approx(float(msssim(a, b, 1.0).mean()), abs=1e-6)
    meter.reduce(doubled)
    assert meter.count == 8 and meter.compute() == pytest.approx(float(msssim(a, b, 1.0).mean()), abs=1e-6)


# ---------------------------------------------------------------------- likelihood


def gaussian_model_log_weights(x: torch.Tensor, q_mean, q_var, noise_var: float, k: int) -> torch.Tensor:
    """``K x N`` log-weights of p(z) = N(0, 1), p(x | z) = N(z, noise_var) with proposal N(q_mean, q_var)."""
    z = (q_mean + math.sqrt(q_var) * torch.randn(k, len(x), 1, dtype=torch.float64)).flatten(0, 1)
    x, q_mean = x.repeat(k, 1), torch.as_tensor(q_mean, dtype=torch.float64).expand(k, len(x), 1).flatten(0, 1)
    log_joint = gaussian_log_density(x, z, math.log(noise_var)) + gaussian_log_density(z, 0 * z, 0.0)
    return (log_joint - gaussian_log_density(z, q_mean, math.log(q_var))).view(k, -1)


def test_iwae_recovers_the_exact_log_likelihood_of_a_gaussian_model():
    """p(x) = N(0, 1 + s^2) by hand; the posterior is N(x / (1 + s^2), s^2 / (1 + s^2))."""
    torch.manual_seed(0)
    s2 = 0.5
    x = torch.tensor([[-1.0], [0.3], [2.0]], dtype=torch.float64)
    exact = -0.5 * (math.log(2 * math.pi * (1 + s2)) + x[:, 0] ** 2 / (1 + s2))
    posterior = gaussian_model_log_weights(x, x / (1 + s2), s2 / (1 + s2), s2, k=3)
    torch.testing.assert_close(iwae_log_likelihood(posterior), exact)  # every weight is p(x): exact for any K
    # The prior as proposal: K = 1 averages to the ELBO E log N(x; z, s^2) = -log(2 pi s^2)/2 - (x^2 + 1)/(2 s^2),
    # many samples tighten the bound towards log p(x) from below.
    elbo = -0.5 * math.log(2 * math.pi * s2) - (x[:, 0] ** 2 + 1) / (2 * s2)
    single = gaussian_model_log_weights(x, torch.zeros_like(x), 1.0, s2, k=20000)
    torch.testing.assert_close(single.mean(0), elbo, atol=0.05, rtol=0)
    bound = iwae_log_likelihood(single)
    assert (bound <= exact + 0.01).all() and (bound > elbo + 0.3).all()
    torch.testing.assert_close(bound, exact, atol=0.03, rtol=0)


def test_likelihood_meter_means_per_sample_and_per_value():
    meter = LikelihoodMeter()
    meter.update(torch.tensor([-1.0, -3.0]), torch.tensor([-0.5, -2.5]), torch.tensor([0.2, 0.4]),
                 torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2))  # fmt: skip
    meter.update(torch.tensor([-2.0]), torch.tensor([-1.0]), torch.tensor([0.3]), torch.full((1, 1, 2, 2), 2.0),
                 torch.zeros(1, 1, 2, 2))  # fmt: skip
    expected = {"elbo": -2.0, "log_likelihood": -4.0 / 3, "kl": 0.3, "recon_mse": (8 + 16) / 12}
    assert meter.compute() == pytest.approx(expected)
    meter.reduce(doubled)
    assert meter.samples == 6 and meter.compute() == pytest.approx(expected)


# ---------------------------------------------------------------------- Fréchet distance


def test_frechet_distance_of_gaussians_with_known_answers():
    one = torch.tensor
    # 1D: (m1 - m2)^2 + (s1 - s2)^2.
    assert frechet_distance(one([1.0]), one([[4.0]]), one([-2.0]), one([[1.0]])) == pytest.approx(9 + 1)
    # Diagonal covariances: sum over axes.
    mean_a, mean_b = one([0.0, 1.0, 2.0]), one([1.0, 1.0, 0.0])
    value = frechet_distance(mean_a, torch.diag(one([1.0, 9.0, 4.0])), mean_b, torch.diag(one([4.0, 1.0, 4.0])))
    assert value == pytest.approx((1 + 0 + 4) + (1 + 4 + 0))
    # Non-commuting covariances: against scipy's matrix square root.
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    cov_a, cov_b = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    reference = np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real)
    assert frechet_distance(one(np.zeros(4)), one(cov_a), one(np.zeros(4)), one(cov_b)) == pytest.approx(reference)
    assert frechet_distance(mean_a, one(cov_a[:3, :3]), mean_a, one(cov_a[:3, :3])) == pytest.approx(0, abs=1e-9)


def test_feature_moments_give_the_covariance_of_all_batches():
    torch.manual_seed(0)
    features = torch.randn(10, 3, dtype=torch.float64)
    moments = FeatureMoments()
    moments.update(features[:4])
    moments.update(features[4:])
    mean, covariance = moments.mean_and_covariance()
    torch.testing.assert_close(mean, features.mean(0))
    torch.testing.assert_close(covariance, torch.cov(features.T))
    moments.reduce(doubled)
    assert moments.count == 20
    torch.testing.assert_close(moments.mean_and_covariance()[0], features.mean(0))


def test_the_feature_classifier_learns_the_labels_and_leaves_the_global_generator_alone():
    dark, bright = torch.full((8, 1, 8, 8), 0.1), torch.full((8, 1, 8, 8), 0.9)
    images = torch.cat([dark, bright]) + 0.05 * torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    dataset = TensorDataset(images, torch.tensor([0] * 8 + [1] * 8))
    state = torch.random.get_rng_state()
    classifier = train_feature_classifier(dataset, 2, lambda x: 2 * x - 1, steps=30, batch_size=8)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert (classifier(2 * images - 1).argmax(1) == dataset.tensors[1]).all()
    assert classifier.features(images).shape == (16, 64)
    again = train_feature_classifier(dataset, 2, lambda x: 2 * x - 1, steps=30, batch_size=8)
    assert torch.equal(again.features(images), classifier.features(images))
