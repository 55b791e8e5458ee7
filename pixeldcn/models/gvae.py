"""The generative variational auto-encoder of Sagar's seed: encoder, generator and critic, in 2D and 3D.

The seed ("Generate High Fidelity Images With Generative Variational Autoencoder") trains a VAE
encoder, a generator and a Wasserstein critic together; its tables give the 128 x 128 plan:

* generator (its Table 1): fully connected ``latent -> 256 x 32 x 32``; ResNet blocks at 256;
  up-sample; blocks to 128; up-sample; blocks to 64; a 3x3 convolution ``64 -> channels``;
* discriminator (its Table 2): 3x3 convolution ``channels -> 64``; blocks 64 -> 64 -> 128; average
  pooling; blocks 128 -> 128 -> 256; average pooling; fully connected.

Here the stage widths, blocks per stage and latent size come from the config, so the same classes
build the seed's plan (``generator_channels=[256, 128, 64]``, ``critic_channels=[64, 128, 256]``,
``blocks_per_stage=2``, ``image_size=128``) and small CPU plans (28 x 28 Fashion-MNIST, 32^3 CT).
The generator's "Upsampling" rows are the up-sampler factory's layers, called ``(C, C)``: they keep
the channels, as the table's output sizes do.

Readings of the seed (each a choice where it is ambiguous or contradicts itself):

* **ResNet block.** The seed lists "convolutional, max pooling, 30 % dropout, batch normalisation".
  A max-pool would halve the map, yet both tables keep the size through every block (down-sizing
  happens only in the explicit pooling rows), so the block here is the basic residual block of
  He et al.: ``conv3x3 -> norm -> act -> dropout(p) -> conv3x3 -> norm``, added
  to the input (through a 1x1 convolution when the channels change), then ``act``. No max-pool.
  ``dropout`` defaults to the seed's 0.3.
* **Normalisation per network.** Generator: BatchNorm, as the seed says. Critic: *no* BatchNorm by
  default: WGAN-GP penalises the gradient of each sample's score with respect to that sample,
  which assumes a score that depends on one sample only; BatchNorm couples the samples of a batch
  (Gulrajani et al. 2017, Sec. 4, recommend layer normalisation instead). ``critic_norm="layer"``
  (GroupNorm with one group: per-sample layer normalisation over channels and positions) is the
  default; ``"none"`` and the seed's literal ``"batch"`` are available. Encoder: BatchNorm (it is
  not under a gradient penalty).
* **Activations.** LeakyReLU(0.2) in encoder and critic ("BatchNorm and LeakyReLU after each layer");
  ReLU in the generator (unstated; the DCGAN convention); ``tanh`` at the generator's output,
  since the seed scales data to [-1, 1].
* **Critic output.** Table 2 ends "fully connected ... -> 1000", but a Wasserstein critic scores an
  image with one number, and the text says "the output from the last layer has to be a single value
  for the discriminator": the last layer maps to 1.
* **Encoder.** "We use the encoder of VAE as it is" and "discriminator and encoder networks have
  four 3D convolution layers": the encoder has the critic's trunk (stem, blocks, poolings; its own
  weights, BatchNorm) and two linear heads to ``mu`` and ``logvar``.
* **First generator block.** Table 1 writes ``512 -> 256 -> 256`` for the first block, whose input
  is the FC's ``256 x 32 x 32``; the 512 is the latent size of the FC row, so the block is
  ``256 -> 256``. The latent size is ``latent_dim`` (512 in Table 1; Table 4 studies 100 .. 2000).
* **3D.** The seed's CT model ("four 3D convolution layers") is this plan with every convolution,
  normalisation and pooling made 3D and the 3D up-samplers (``deconv3d``, ``pixeldcl3d``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Literal

import torch
from torch import nn

from pixeldcn.models.unet import UpsamplerFactory
from pixeldcn.upsamplers import require_spatial_dims

Norm = Literal["batch", "layer", "none"]
NORMS = ("batch", "layer", "none")
LEAKY_SLOPE = 0.2
_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_BATCH_NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_AVG_POOL = {2: nn.AvgPool2d, 3: nn.AvgPool3d}


def norm_layer(kind: Norm, channels: int, dims: int) -> nn.Module:
    """BatchNorm, per-sample layer normalisation (GroupNorm with one group) or identity."""
    if kind == "batch":
        return _BATCH_NORM[dims](channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"normalisation must be one of {', '.join(NORMS)}, got {kind!r}")


class ResidualBlock(nn.Module):
    """``act(x' + conv(drop(act(norm(conv(x))))) -> norm)`` with ``x'`` = x or its 1x1 projection.

    3x3 (x3) 'same' convolutions, so the map keeps its size (see the module doc for why there is
    no max-pool). Convolutions followed by a normalisation with a bias of its own have no bias.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dims: int,
        norm: Norm,
        activation: Callable[[], nn.Module],
        dropout: float,
    ) -> None:
        super().__init__()
        conv = _CONV[dims]
        bias = norm == "none"
        self.conv1 = conv(in_channels, out_channels, 3, padding=1, bias=bias)
        self.norm1 = norm_layer(norm, out_channels, dims)
        self.act1 = activation()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = conv(out_channels, out_channels, 3, padding=1, bias=bias)
        self.norm2 = norm_layer(norm, out_channels, dims)
        self.shortcut = nn.Identity() if in_channels == out_channels else conv(in_channels, out_channels, 1)
        self.act2 = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dropout(self.act1(self.norm1(self.conv1(x))))
        return self.act2(self.shortcut(x) + self.norm2(self.conv2(y)))


def _trunk(
    in_channels: int,
    channels: Sequence[int],
    blocks_per_stage: int,
    dims: int,
    norm: Norm,
    dropout: float,
) -> nn.Sequential:
    """The critic's (and encoder's) convolutional trunk of Table 2.

    A 3x3 stem ``in -> channels[0]``, then for each following width ``c'``: ``blocks_per_stage``
    residual blocks, the last one ``c -> c'`` and the others ``c -> c``, and a 2x average pooling.
    """
    leaky = partial(nn.LeakyReLU, LEAKY_SLOPE)
    layers: list[nn.Module] = [
        _CONV[dims](in_channels, channels[0], 3, padding=1, bias=norm == "none"),
        norm_layer(norm, channels[0], dims),
        leaky(),
    ]
    for c_in, c_out in zip(channels[:-1], channels[1:]):
        for index in range(blocks_per_stage):
            last = index == blocks_per_stage - 1
            layers.append(ResidualBlock(c_in, c_out if last else c_in, dims, norm, leaky, dropout))
        layers.append(_AVG_POOL[dims](2))
    layers.append(nn.Flatten())
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """``x -> (mu, logvar)``: the critic's trunk with BatchNorm, then two linear heads."""

    def __init__(self, trunk: nn.Sequential, features: int, latent_dim: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.fc_mu = nn.Linear(features, latent_dim)
        self.fc_logvar = nn.Linear(features, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(x)
        return self.fc_mu(features), self.fc_logvar(features)


class Critic(nn.Module):
    """``x -> N`` scores: the trunk, then one linear unit (the Wasserstein critic)."""

    def __init__(self, trunk: nn.Sequential, features: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.fc = nn.Linear(features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.trunk(x)).squeeze(1)


class Generator(nn.Module):
    """``z -> x`` in [-1, 1]: Table 1 with ``len(channels)`` stages and ``len(channels) - 1`` up-samplings.

    Linear ``latent -> channels[0] x base^dims`` + BN + ReLU; for each stage ``blocks_per_stage``
    residual blocks (the first ``previous -> c``, the rest ``c -> c``), with the factory's
    ``upsampler(c, c)`` + BN + ReLU between stages; a 3x3 convolution to ``out_channels`` and tanh.
    """

    def __init__(
        self,
        upsampler: UpsamplerFactory,
        out_channels: int,
        latent_dim: int,
        base_size: int,
        channels: Sequence[int],
        blocks_per_stage: int,
        dims: int,
        dropout: float,
        model_name: str,
    ) -> None:
        super().__init__()
        relu = partial(nn.ReLU, inplace=True)
        shape = (channels[0], *(base_size,) * dims)
        self.input = nn.Sequential(
            nn.Linear(latent_dim, channels[0] * base_size**dims),
            nn.Unflatten(1, shape),
            _BATCH_NORM[dims](channels[0]),
            relu(),
        )
        layers: list[nn.Module] = []
        previous = channels[0]
        for stage, width in enumerate(channels):
            if stage > 0:
                upsample = require_spatial_dims(upsampler(previous, previous), dims, model_name)
                layers += [upsample, _BATCH_NORM[dims](previous), relu()]
            for index in range(blocks_per_stage):
                layers.append(ResidualBlock(previous if index == 0 else width, width, dims, "batch", relu, dropout))
            previous = width
        self.blocks = nn.Sequential(*layers)
        self.output = nn.Sequential(_CONV[dims](channels[-1], out_channels, 3, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.output(self.blocks(self.input(z)))


class GVAE(nn.Module):
    """Generative VAE (see the module doc): ``encoder``, ``generator`` and ``critic`` submodules.

    Args:
        upsampler: factory ``(in_channels, out_channels) -> nn.Module`` for the generator's 2x
            up-sampling layers, called ``(c, c)`` for ``c`` in ``generator_channels[:-1]``.
        in_channels: image channels (1 for (Fashion-)MNIST and CT, 3 for the seed's RGB plan).
        image_size: side of the square (cubic in 3D) images; divisible by
            ``2 ** (len(generator_channels) - 1)`` and ``2 ** (len(critic_channels) - 1)``.
        latent_dim: size of ``z`` (the seed: 512 in Table 1, 100 .. 2000 in Table 4).
        generator_channels: stage widths of the generator (the seed: 256, 128, 64).
        critic_channels: stem width then stage widths of the critic and encoder (64, 128, 256).
        blocks_per_stage: residual blocks per stage (the seed: 2).
        dropout: dropout probability inside the residual blocks (the seed: 0.3).
        critic_norm: ``"layer"`` (default), ``"none"`` or ``"batch"`` (see the module doc).

    Images are ``N x in_channels x S x S`` (``N x C x S x S x S`` for :class:`GVAE3D`) in [-1, 1].
    ``forward(x)`` is ``(reconstruction, mu, logvar)`` like :class:`~pixeldcn.models.VAE`'s.
    """

    spatial_dims = 2

    def __init__(
        self,
        upsampler: UpsamplerFactory,
        in_channels: int = 1,
        image_size: int = 28,
        latent_dim: int = 128,
        generator_channels: Sequence[int] = (64, 32, 16),
        critic_channels: Sequence[int] = (16, 32, 64),
        blocks_per_stage: int = 1,
        dropout: float = 0.3,
        critic_norm: Norm = "layer",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        generator_channels, critic_channels = list(generator_channels), list(critic_channels)
        if len(generator_channels) < 1 or len(critic_channels) < 1:
            raise ValueError(f"{name} needs at least one generator and one critic width")
        if blocks_per_stage < 1 or latent_dim < 1:
            raise ValueError(f"{name} blocks_per_stage and latent_dim must be at least 1")
        if not 0 <= dropout < 1:
            raise ValueError(f"{name} dropout must be in [0, 1), got {dropout}")
        if critic_norm not in NORMS:
            raise ValueError(f"{name} critic_norm must be one of {', '.join(NORMS)}, got {critic_norm!r}")
        divisor = 2 ** (max(len(generator_channels), len(critic_channels)) - 1)
        if image_size % divisor:
            raise ValueError(
                f"{name} image_size={image_size} must be divisible by {divisor} ({len(generator_channels)} "
                f"generator stages, {len(critic_channels) - 1} critic poolings); change the dataset's "
                "image_size or the model's channels"
            )
        dims = self.spatial_dims
        self.in_channels = in_channels
        self.image_size = image_size
        self.latent_dim = latent_dim
        reduced = image_size // 2 ** (len(critic_channels) - 1)
        features = critic_channels[-1] * reduced**dims
        self.encoder = Encoder(
            _trunk(in_channels, critic_channels, blocks_per_stage, dims, "batch", dropout), features, latent_dim
        )
        self.generator = Generator(
            upsampler,
            in_channels,
            latent_dim,
            image_size // 2 ** (len(generator_channels) - 1),
            generator_channels,
            blocks_per_stage,
            dims,
            dropout,
            name,
        )
        self.critic = Critic(
            _trunk(in_channels, critic_channels, blocks_per_stage, dims, critic_norm, dropout), features
        )

    def _check_input(self, x: torch.Tensor) -> None:
        expected = (self.in_channels, *(self.image_size,) * self.spatial_dims)
        if x.dim() != 2 + self.spatial_dims or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape N x {' x '.join(map(str, expected))}, got "
                f"{tuple(x.shape)}; set the model's in_channels/image_size to match the dataset"
            )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters ``(mu, logvar)``, each ``N x latent_dim``."""
        self._check_input(x)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] generated from codes ``z`` (``N x latent_dim``)."""
        return self.generator(z)

    def critique(self, x: torch.Tensor) -> torch.Tensor:
        """The critic's ``N`` scores of images ``x`` (higher: judged more real)."""
        return self.critic(x)

    @staticmethod
    def reparameterize(
        mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)`` drawn from ``generator`` (on its device)."""
        if generator is None:
            noise = torch.randn_like(mu)
        else:
            noise = torch.randn(mu.shape, generator=generator, device=generator.device).to(mu.device, mu.dtype)
        return mu + torch.exp(0.5 * logvar) * noise

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes from the prior ``N(0, I)`` on the model's device (drawn on ``generator``'s)."""
        device = self.encoder.fc_mu.weight.device
        draw_device = device if generator is None else generator.device
        return torch.randn(n, self.latent_dim, generator=generator, device=draw_device).to(device)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(reconstruction, mu, logvar)``, the reconstruction generated from a sampled ``z``."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Generate from the posterior mean of ``x``; no gradients."""
        return self.decode(self.encode(x)[0])

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Generate ``n`` images from prior codes; no gradients (call ``eval()`` first for BN statistics)."""
        return self.decode(self.prior_sample(n, generator))


class GVAE3D(GVAE):
    """:class:`GVAE` for volumes ``N x C x S x S x S``: 3D convolutions, norms, poolings and up-samplers.

    The factory must build 3D layers (``deconv3d``, ``pixeldcl3d``, ``ipixeldcl3d``); a 2D one is a
    ``ValueError`` naming them.
    """

    spatial_dims = 3

    def __init__(
        self,
        upsampler: UpsamplerFactory,
        in_channels: int = 1,
        image_size: int = 32,
        latent_dim: int = 128,
        generator_channels: Sequence[int] = (32, 16, 8),
        critic_channels: Sequence[int] = (8, 16, 32),
        blocks_per_stage: int = 1,
        dropout: float = 0.3,
        critic_norm: Norm = "layer",
    ) -> None:
        super().__init__(
            upsampler,
            in_channels,
            image_size,
            latent_dim,
            generator_channels,
            critic_channels,
            blocks_per_stage,
            dropout,
            critic_norm,
        )
