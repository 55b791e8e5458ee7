"""Convolutional variational auto-encoder for image generation (paper Section 3.2).

The paper uses "the standard VAE" (Kingma & Welling, 2014) on 64x64x3 CelebA faces and swaps
the decoder's deconvolutional layers for PixelDCL. ``VAE`` is that standard model with the
decoder's up-sampling layers supplied by the caller; ``vae_loss`` is its negative ELBO.

Other image sizes (28x28x1 Fashion-MNIST, 32x32x3) use the same network at a *working size*:
the smallest ``4 * 2**k >= image_size`` (28 -> 32, 64 -> 64). Inputs are zero-padded to the
working size, centred, and decoder outputs are cropped back, so the decoder always grows a 4x4
map to the working size in ``k`` up-sampling stages. Any ``image_size`` from 8 to 64 works.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from pixeldcn.models.layers import UpsamplerFactory

MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 64
_BOTTLENECK_SIZE = 4
_MAX_STAGES = 4
_LEAKY_SLOPE = 0.2


def _working_size(image_size: int) -> int:
    """The smallest ``4 * 2**k`` that is at least ``image_size``."""
    size = _BOTTLENECK_SIZE
    while size < image_size:
        size *= 2
    return size


def _stage(layer: nn.Module, channels: int, activation: Callable[[], nn.Module]) -> nn.Sequential:
    """``layer`` (producing ``channels`` maps), then BatchNorm and a fresh ``activation()``."""
    return nn.Sequential(OrderedDict(layer=layer, norm=nn.BatchNorm2d(channels), act=activation()))


class VAE(nn.Module):
    """Convolutional VAE whose decoder up-samples with a configurable layer.

    With ``k = log2(working_size / 4)`` stages (4 for 64x64 images, 3 for 28x28 or 32x32):

    * encoder: ``k`` convolutions 4x4 / stride 2 / padding 1 + BN + LeakyReLU(0.2), halving the
      size down to 4x4; channels are the last ``k`` of ``w, 2w, 4w, 8w`` (so always ending at
      ``8w``); then two linear layers from the flattened ``8w x 4 x 4`` map to ``mu`` and
      ``logvar`` (each ``latent_dim``);
    * decoder: a linear layer from ``z`` to ``8w x 4 x 4`` + BN + ReLU, then ``k`` stages of
      up-sampler + BN + ReLU mirroring the encoder's channels (64x64: ``(8w, 4w)``,
      ``(4w, 2w)``, ``(2w, w)``, ``(w, w)``: the factory is called with these pairs in this
      order; the last stage keeps its channels), then a 3x3 convolution to ``in_channels`` and a
      sigmoid, so images are in ``[0, 1]``.

    Args:
        upsampler: factory ``(in_channels, out_channels) -> nn.Module`` for the 2x up-sampling
            layers of the decoder.
        in_channels: image channels (3 for CelebA, 1 for Fashion-MNIST).
        image_size: height and width of the (square) images, from 8 to 64.
        latent_dim: dimension of the latent code ``z``.
        width: ``w``, channels of the encoder's first stage at 64x64.

    ``forward`` always samples ``z`` with the reparameterisation trick, in training and in eval
    mode, so it is the stochastic ELBO estimate; ``reconstruct`` decodes the posterior mean.
    """

    def __init__(
        self,
        upsampler: UpsamplerFactory,
        in_channels: int = 3,
        image_size: int = 64,
        latent_dim: int = 128,
        width: int = 32,
    ) -> None:
        super().__init__()
        if not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
            raise ValueError(
                f"VAE image_size must be between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE}, got {image_size}; "
                f"resize the images (dataset image size) into that range"
            )
        self.in_channels = in_channels
        self.image_size = image_size
        self.latent_dim = latent_dim
        self.working_size = _working_size(image_size)
        num_stages = (self.working_size // _BOTTLENECK_SIZE).bit_length() - 1
        channels = [width * 2**i for i in range(_MAX_STAGES)][-num_stages:]
        bottleneck_channels = channels[-1]
        bottleneck_features = bottleneck_channels * _BOTTLENECK_SIZE**2
        leaky_relu = partial(nn.LeakyReLU, _LEAKY_SLOPE, inplace=True)

        self.encoder = nn.Sequential(
            *(
                _stage(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=False), c_out, leaky_relu)
                for c_in, c_out in zip([in_channels, *channels[:-1]], channels)
            ),
            nn.Flatten(),
        )
        self.fc_mu = nn.Linear(bottleneck_features, latent_dim)
        self.fc_logvar = nn.Linear(bottleneck_features, latent_dim)

        self.decoder_input = nn.Sequential(
            nn.Linear(latent_dim, bottleneck_features),
            nn.Unflatten(1, (bottleneck_channels, _BOTTLENECK_SIZE, _BOTTLENECK_SIZE)),
            nn.BatchNorm2d(bottleneck_channels),
            nn.ReLU(inplace=True),
        )
        decoder_channels = [*reversed(channels), channels[0]]
        self.decoder = nn.Sequential(
            *(
                _stage(upsampler(c_in, c_out), c_out, partial(nn.ReLU, inplace=True))
                for c_in, c_out in zip(decoder_channels[:-1], decoder_channels[1:])
            )
        )
        self.output = nn.Sequential(nn.Conv2d(channels[0], in_channels, kernel_size=3, padding=1), nn.Sigmoid())

    def _check_input(self, x: torch.Tensor) -> None:
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"VAE expects images of shape N x {' x '.join(map(str, expected))}, got {tuple(x.shape)}; "
                f"set the model's in_channels/image_size to match the dataset"
            )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters ``(mu, logvar)``, each ``N x latent_dim``, of images ``x``."""
        self._check_input(x)
        before = (self.working_size - self.image_size) // 2
        after = self.working_size - self.image_size - before
        features = self.encoder(F.pad(x, (before, after, before, after)))
        return self.fc_mu(features), self.fc_logvar(features)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``N x in_channels x image_size x image_size`` in ``[0, 1]`` from codes ``z``."""
        images = self.output(self.decoder(self.decoder_input(z)))
        start = (self.working_size - self.image_size) // 2
        return images[..., start : start + self.image_size, start : start + self.image_size]

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """A sample ``mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``, differentiable in both."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(reconstruction, mu, logvar)`` with the reconstruction decoded from a sampled ``z``."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean of ``x`` (deterministic given the mode); no gradients."""
        mu, _ = self.encode(x)
        return self.decode(mu)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` codes drawn from the prior ``N(0, I)``; no gradients.

        ``generator`` makes the draw reproducible; ``z`` is drawn on its device and then moved to
        the model's. BatchNorm follows the current mode: call ``eval()`` first to use running
        statistics.
        """
        device = self.fc_mu.weight.device
        draw_device = device if generator is None else generator.device
        z = torch.randn(n, self.latent_dim, generator=generator, device=draw_device)
        return self.decode(z.to(device))


def vae_loss(
    recon: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    recon_loss: Literal["bce", "mse"] = "bce",
    beta: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Negative ELBO of a diagonal-Gaussian VAE with a standard normal prior.

    Returns ``{"loss": recon + beta * kl, "recon": ..., "kl": ...}``, each a scalar averaged over
    the batch:

    * ``recon``: per image, the sum over pixels of the binary cross-entropy
      ``-(x log r + (1 - x) log(1 - r))`` (``"bce"``, logs clamped at -100 as in PyTorch) or of
      the squared error ``(r - x)**2`` (``"mse"``);
    * ``kl``: per image, ``KL(N(mu, exp(logvar)) || N(0, I)) =
      -1/2 * sum(1 + logvar - mu**2 - exp(logvar))`` over the latent dimensions.

    Computed in float32 with autocast disabled: PyTorch refuses binary cross-entropy under CUDA
    autocast, and ``exp(logvar)`` overflows in float16.
    """
    if recon_loss not in ("bce", "mse"):
        raise ValueError(f"vae_loss recon_loss must be 'bce' or 'mse', got {recon_loss!r}")
    batch_size = x.shape[0]
    with torch.autocast(device_type=recon.device.type, enabled=False):
        recon, x, mu, logvar = recon.float(), x.float(), mu.float(), logvar.float()
        if recon_loss == "bce":
            recon_term = F.binary_cross_entropy(recon, x, reduction="sum")
        else:
            recon_term = F.mse_loss(recon, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    recon_term = recon_term / batch_size
    kl = kl / batch_size
    return {"loss": recon_term + beta * kl, "recon": recon_term, "kl": kl}
