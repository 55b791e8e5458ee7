"""Metrics of generative models: MMD, MS-SSIM diversity, likelihood bounds and a classifier Fréchet distance.

Every meter accumulates sums over batches (``update``) whose fields are plain numbers or tensors
that a distributed run adds up over its processes (``reduce(reduce_sum)``), and ``compute``s the
metric from the sums, so evaluating a split in any number of batches and processes gives the
metric of the whole split (MMD: see :class:`MMDMeter` for what "whole" means there).

* :class:`MMDMeter`: squared maximum mean discrepancy with a Gaussian kernel, unbiased;
* :class:`MSSSIMMeter`: mean MS-SSIM over pairs of images (torchmetrics' implementation), the
  seed's diversity measure: lower means more diverse;
* :func:`iwae_log_likelihood` and :class:`LikelihoodMeter`: ELBO, importance-weighted
  log-likelihood bound (Burda et al. 2016), KL and reconstruction error;
* :func:`frechet_distance`, :class:`FrechetMeter` and :class:`FeatureClassifier`: the Fréchet
  distance between Gaussians fitted to the features of a small classifier trained here on the same
  dataset. It is built like FID but is **not** FID: no Inception network, no ImageNet features, so
  its values are comparable only between runs that use the same classifier.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

ReduceSum = Callable[[Tensor], Tensor]


def _sum_fields(target: object, names: Sequence[str], reduce_sum: ReduceSum) -> None:
    """Replace the float/int attributes ``names`` of ``target`` by their sums over processes (one float64 call)."""
    values = [getattr(target, name) for name in names]
    totals = reduce_sum(torch.tensor(values, dtype=torch.float64)).tolist()
    for name, value, total in zip(names, values, totals):
        setattr(target, name, round(total) if isinstance(value, int) else total)


# ---------------------------------------------------------------------- MMD


def gaussian_kernel(x: Tensor, y: Tensor, bandwidth: float) -> Tensor:
    """``k(x_i, y_j) = exp(-mean((x_i - y_j)^2) / (2 bandwidth^2))`` for flattened samples, in float64.

    The squared distance is averaged over the values of a sample (pixels and channels) rather than
    summed, so ``bandwidth`` is in units of one value (one pixel intensity) whatever the image size.
    """
    x = x.detach().flatten(1).to(torch.float64)
    y = y.detach().flatten(1).to(x.device, torch.float64)
    squared = (x.square().sum(1)[:, None] + y.square().sum(1)[None] - 2 * x @ y.T).clamp_min(0) / x.shape[1]
    return torch.exp(-squared / (2 * bandwidth**2))


@dataclass
class MMDMeter:
    """Unbiased squared MMD between real and generated samples, accumulated over batch pairs.

    With ``K`` the Gaussian kernel of :func:`gaussian_kernel`, each ``update(real, fake)`` adds

    * the sum of ``K(x_i, x_j)`` over ordered pairs ``i != j`` of ``real`` and their number,
    * the same for ``fake``,
    * the sum of ``K(x_i, y_j)`` over all pairs and their number,

    and ``compute()`` is ``mean K(x, x') + mean K(y, y') - 2 mean K(x, y)`` over everything added.
    With a single update this is the unbiased U-statistic of Gretton et al. (2012, eq. 3); over
    several it is the block estimator (pairs only within each update), which is unbiased too, and
    whose sums add up over batches and processes. It can be slightly negative when the two
    distributions are close.

    Args:
        bandwidth: ``sigma`` of the kernel, in units of one pixel value (see :func:`gaussian_kernel`).
    """

    bandwidth: float = 1.0
    real_sum: float = 0.0
    real_pairs: int = 0
    fake_sum: float = 0.0
    fake_pairs: int = 0
    cross_sum: float = 0.0
    cross_pairs: int = 0

    def __post_init__(self) -> None:
        if self.bandwidth <= 0:
            raise ValueError(f"MMD bandwidth must be positive, got {self.bandwidth}")

    def update(self, real: Tensor, fake: Tensor) -> None:
        """Add a batch of real and one of generated samples (at least 2 of each, any shape ``N x ...``)."""
        if len(real) < 2 or len(fake) < 2:
            raise ValueError(
                f"MMD needs at least 2 real and 2 generated samples per update, got {len(real)}, {len(fake)}"
            )
        for samples, kind in ((real, "real"), (fake, "fake")):
            kernel = gaussian_kernel(samples, samples, self.bandwidth)
            total = float(kernel.sum() - kernel.diagonal().sum())
            setattr(self, f"{kind}_sum", getattr(self, f"{kind}_sum") + total)
            setattr(self, f"{kind}_pairs", getattr(self, f"{kind}_pairs") + len(samples) * (len(samples) - 1))
        self.cross_sum += float(gaussian_kernel(real, fake, self.bandwidth).sum())
        self.cross_pairs += len(real) * len(fake)

    def reduce(self, reduce_sum: ReduceSum) -> None:
        _sum_fields(self, ("real_sum", "real_pairs", "fake_sum", "fake_pairs", "cross_sum", "cross_pairs"), reduce_sum)

    def compute(self) -> float:
        if self.cross_pairs == 0:
            raise ValueError("MMDMeter.compute() called before any update()")
        return self.real_sum / self.real_pairs + self.fake_sum / self.fake_pairs - 2 * self.cross_sum / self.cross_pairs


# ---------------------------------------------------------------------- MS-SSIM

STANDARD_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Wang, Simoncelli & Bovik (2003): the weights of the five scales, finest first."""
MIN_KERNEL = 7
MAX_KERNEL = 11
STANDARD_SIGMA = 1.5


def msssim_settings(side: int) -> tuple[int, float, tuple[float, ...]]:
    """``(window, sigma, betas)`` of MS-SSIM for images whose smallest side is ``side``.

    The standard setting (5 scales, an 11-wide Gaussian window of sigma 1.5) needs images of more
    than 160 pixels in torchmetrics' implementation. For smaller ones: the window is at least
    ``MIN_KERNEL = 7`` wide, as many scales (up to 5) are kept as let the coarsest map hold the
    window and pass torchmetrics' size checks, then the widest window up to 11 that fits. The
    Gaussian shrinks with its window, ``sigma = 1.5 * window / 11`` (torchmetrics sizes a Gaussian
    window from sigma alone, ``2 int(3.5 sigma + 0.5) + 1`` taps, so the window is set through
    sigma). With fewer than 5 scales the betas are the first standard ones renormalised to sum to 1.
    So 28 x 28 and 32 x 32 images get 3 scales with a 7-wide window, 128 x 128 ones 5 scales with a
    7-wide window, and 176 x 176 or more the standard setting. Below 7 pixels it is plain SSIM with
    the widest odd window that fits.
    """
    if side < 3:
        raise ValueError(f"MS-SSIM needs images of at least 3 x 3 pixels, got a side of {side}")

    def fits(scales: int, kernel: int) -> bool:
        return (
            side >= 2**scales and side // max(1, scales - 1) ** 2 > kernel - 1 and side // 2 ** (scales - 1) >= kernel
        )

    for scales in range(len(STANDARD_BETAS), 0, -1):
        kernels = [k for k in range(MAX_KERNEL, MIN_KERNEL - 1, -2) if fits(scales, k)]
        if kernels:
            kernel = kernels[0]
            if scales == len(STANDARD_BETAS):
                return kernel, _window_sigma(kernel), STANDARD_BETAS
            betas = STANDARD_BETAS[:scales]
            return kernel, _window_sigma(kernel), tuple(beta / sum(betas) for beta in betas)
    kernel = side if side % 2 else side - 1
    return kernel, _window_sigma(kernel), (1.0,)


def _window_sigma(kernel: int) -> float:
    return STANDARD_SIGMA * kernel / MAX_KERNEL


def msssim(a: Tensor, b: Tensor, data_range: float) -> Tensor:
    """Per-pair MS-SSIM of ``N x C x H x W`` (or ``N x C x D x H x W``) images, with :func:`msssim_settings`.

    torchmetrics' ``normalize="relu"`` clamps each scale's negative similarities to 0 (as in
    pytorch-msssim), so unrelated or anti-correlated pairs score 0 instead of NaN; identical
    images score 1.
    """
    kernel, sigma, betas = msssim_settings(min(a.shape[2:]))
    return multiscale_structural_similarity_index_measure(
        a.detach().float(),
        b.detach().float(),
        kernel_size=kernel,
        sigma=sigma,
        betas=betas,
        data_range=data_range,
        reduction="none",
        normalize="relu",
    )


@dataclass
class MSSSIMMeter:
    """Mean MS-SSIM of image pairs (``update(a, b)`` pairs ``a[i]`` with ``b[i]``).

    Between pairs of independent generated samples this is the seed's diversity score (Table 3):
    identical samples give 1, lower is more diverse. Args: ``data_range``, the width of the value
    range (2 for images in [-1, 1]).
    """

    data_range: float = 2.0
    total: float = 0.0
    count: int = 0

    def update(self, a: Tensor, b: Tensor) -> None:
        self.total += float(msssim(a, b, self.data_range).double().sum())
        self.count += len(a)

    def reduce(self, reduce_sum: ReduceSum) -> None:
        _sum_fields(self, ("total", "count"), reduce_sum)

    def compute(self) -> float:
        if self.count == 0:
            raise ValueError("MSSSIMMeter.compute() called before any update()")
        return self.total / self.count


# ---------------------------------------------------------------------- likelihood


def gaussian_log_density(x: Tensor, mean: Tensor, log_var: Tensor | float) -> Tensor:
    """``log N(x; mean, exp(log_var))`` summed over every dimension but the first, in float64."""
    x, mean = x.double(), mean.double()
    log_var = torch.as_tensor(log_var, dtype=torch.float64, device=x.device)
    values = -0.5 * (math.log(2 * math.pi) + log_var + (x - mean).square() / log_var.exp())
    return values.expand_as(x).flatten(1).sum(1)


def iwae_log_likelihood(log_weights: Tensor) -> Tensor:
    """The importance-weighted bound ``log (1/K) sum_k w_k`` per sample from ``K x N`` log-weights.

    ``log w_k = log p(x, z_k) - log q(z_k | x)`` with ``z_k ~ q(z | x)``. Its expectation is a lower
    bound of ``log p(x)`` that tightens as ``K`` grows (Burda et al. 2016); ``K = 1`` is the ELBO.
    """
    return torch.logsumexp(log_weights.double(), dim=0) - math.log(log_weights.shape[0])


@dataclass
class LikelihoodMeter:
    """Sums of per-sample ELBO, IWAE bound, KL and squared error, and the counts (see ``compute``)."""

    samples: int = 0
    values: int = 0
    elbo: float = 0.0
    log_likelihood: float = 0.0
    kl: float = 0.0
    squared_error: float = 0.0

    def update(self, elbo: Tensor, log_likelihood: Tensor, kl: Tensor, reconstruction: Tensor, target: Tensor) -> None:
        """Add per-sample ``elbo``, ``log_likelihood`` and ``kl`` (each ``N``) and a reconstruction of ``target``."""
        self.samples += len(elbo)
        self.values += target.numel()
        self.elbo += float(elbo.double().sum())
        self.log_likelihood += float(log_likelihood.double().sum())
        self.kl += float(kl.double().sum())
        self.squared_error += float((reconstruction.double() - target.double()).square().sum())

    def reduce(self, reduce_sum: ReduceSum) -> None:
        _sum_fields(self, ("samples", "values", "elbo", "log_likelihood", "kl", "squared_error"), reduce_sum)

    def compute(self) -> dict[str, float]:
        """Per-sample means of ``elbo``, ``log_likelihood`` (IWAE), ``kl``, and ``recon_mse`` per value."""
        if self.samples == 0:
            raise ValueError("LikelihoodMeter.compute() called before any update()")
        return {
            "elbo": self.elbo / self.samples,
            "log_likelihood": self.log_likelihood / self.samples,
            "kl": self.kl / self.samples,
            "recon_mse": self.squared_error / self.values,
        }


# ---------------------------------------------------------------------- Fréchet distance


def _sqrt_psd(matrix: Tensor) -> Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(mean_a: Tensor, cov_a: Tensor, mean_b: Tensor, cov_b: Tensor) -> float:
    """``|m_a - m_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2))``, the Fréchet (2-Wasserstein) distance squared.

    ``tr (C_a C_b)^(1/2)`` is computed as ``tr (C_a^(1/2) C_b C_a^(1/2))^(1/2)`` (the same
    eigenvalues, from symmetric matrices) in float64.
    """
    mean_a, mean_b, cov_a, cov_b = (t.double() for t in (mean_a, mean_b, cov_a, cov_b))
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return float((mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * cross)


@dataclass
class FeatureMoments:
    """Sum, sum of outer products and count of feature vectors: their mean and covariance."""

    total: Tensor | None = None
    outer: Tensor | None = None
    count: int = 0

    def update(self, features: Tensor) -> None:
        features = features.detach().double().flatten(1)
        if self.total is None:
            self.total = features.new_zeros(features.shape[1])
            self.outer = features.new_zeros(features.shape[1], features.shape[1])
        self.total += features.sum(0)
        self.outer += features.T @ features
        self.count += len(features)

    def reduce(self, reduce_sum: ReduceSum) -> None:
        self.total, self.outer = reduce_sum(self.total), reduce_sum(self.outer)
        self.count = round(float(reduce_sum(torch.tensor(float(self.count), dtype=torch.float64))))

    def mean_and_covariance(self) -> tuple[Tensor, Tensor]:
        """Mean and unbiased covariance (divided by ``count - 1``)."""
        if self.count < 2:
            raise ValueError(f"a covariance needs at least 2 feature vectors, got {self.count}")
        mean = self.total / self.count
        return mean, (self.outer - self.count * torch.outer(mean, mean)) / (self.count - 1)


@dataclass
class FrechetMeter:
    """Fréchet distance between Gaussians fitted to real and generated features (see the module doc)."""

    real: FeatureMoments = field(default_factory=FeatureMoments)
    fake: FeatureMoments = field(default_factory=FeatureMoments)

    def update(self, real_features: Tensor, fake_features: Tensor) -> None:
        self.real.update(real_features)
        self.fake.update(fake_features)

    def reduce(self, reduce_sum: ReduceSum) -> None:
        self.real.reduce(reduce_sum)
        self.fake.reduce(reduce_sum)

    def compute(self) -> float:
        return frechet_distance(*self.real.mean_and_covariance(), *self.fake.mean_and_covariance())


class FeatureClassifier(nn.Module):
    """A small CNN classifier whose penultimate layer gives the features of :class:`FrechetMeter`.

    Two stages of 3x3 convolution + BN + ReLU + 2x max-pool (``width``, ``2 width`` channels), global
    average pooling, a linear layer to ``feature_dim`` + ReLU (the features), a linear classifier.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 32, feature_dim: int = 64) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * width, feature_dim),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.trunk(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.trunk(x))


def train_feature_classifier(
    dataset: Dataset,
    num_classes: int,
    transform: Callable[[Tensor], Tensor],
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> FeatureClassifier:
    """Train a :class:`FeatureClassifier` on the ``(image, label)`` items of ``dataset``; return it in eval mode.

    ``transform`` maps a batch of dataset images to the generator's scale (e.g. [0, 1] -> [-1, 1]).
    Adam on cross-entropy for ``steps`` mini-batches drawn with replacement. Initialisation and
    draws come from ``seed`` inside ``torch.random.fork_rng``, so the classifier is a function of
    ``(dataset, seed)`` and the global generators that training relies on do not move.
    """
    if steps < 1:
        raise ValueError(f"the feature classifier needs at least 1 training step, got {steps}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        draw = torch.Generator().manual_seed(seed)
        first = dataset[0][0]
        model = FeatureClassifier(first.shape[0], num_classes).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        for _ in range(steps):
            indices = torch.randint(len(dataset), (batch_size,), generator=draw).tolist()
            items = [dataset[index] for index in indices]
            images = transform(torch.stack([item[0] for item in items]).to(device))
            labels = torch.as_tensor([int(item[1]) for item in items], device=device)
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval().requires_grad_(False)
