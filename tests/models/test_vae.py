import functools
import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from pixeldcn.models import VAE, vae_loss
from pixeldcn.upsamplers import build_upsampler

from .factories import REGISTERED_NAMES, resize_conv, transposed_conv


@pytest.mark.parametrize("factory", [transposed_conv, resize_conv], ids=["deconv", "resize"])
@pytest.mark.parametrize(("channels", "size"), [(3, 64), (1, 28), (3, 32)])
def test_forward_shapes_and_range(factory, channels, size):
    model = VAE(factory, in_channels=channels, image_size=size, latent_dim=16, width=8)
    x = torch.rand(3, channels, size, size)
    recon, mu, logvar = model(x)
    assert recon.shape == x.shape
    assert mu.shape == logvar.shape == (3, 16)
    assert recon.min() >= 0 and recon.max() <= 1
    assert model.encode(x)[0].shape == (3, 16)
    assert model.decode(torch.randn(5, 16)).shape == (5, channels, size, size)


@pytest.mark.parametrize(
    ("size", "working_size", "pairs"),
    [
        (64, 64, [(64, 32), (32, 16), (16, 8), (8, 8)]),
        (32, 32, [(64, 32), (32, 16), (16, 16)]),
        (28, 32, [(64, 32), (32, 16), (16, 16)]),
        (8, 8, [(64, 64)]),
    ],
)
def test_decoder_factory_pairs_mirror_the_encoder(size, working_size, pairs):
    calls = []

    def recording(cin, cout):
        calls.append((cin, cout))
        return resize_conv(cin, cout)

    model = VAE(recording, in_channels=1, image_size=size, latent_dim=4, width=8)
    assert model.working_size == working_size
    assert calls == pairs
    encoder_widths = [m.out_channels for m in model.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert encoder_widths == [cin for cin, _ in pairs][::-1]
    assert model.fc_mu.in_features == 64 * 4 * 4


def test_small_images_are_zero_padded_centrally_and_cropped_back():
    model = VAE(resize_conv, in_channels=1, image_size=27, latent_dim=4, width=4)
    seen = {}
    model.encoder.register_forward_pre_hook(lambda m, i: seen.__setitem__("encoder_in", i[0]))
    model.output.register_forward_hook(lambda m, i, o: seen.__setitem__("decoded", o))
    x = torch.rand(2, 1, 27, 27) + 1
    recon, _, _ = model(x)
    padded = seen["encoder_in"]
    assert padded.shape == (2, 1, 32, 32)
    torch.testing.assert_close(padded[..., 2:29, 2:29], x)
    assert padded.abs().sum() == pytest.approx(x.sum().item(), rel=1e-6)
    torch.testing.assert_close(recon, seen["decoded"][..., 2:29, 2:29])


def test_sample_shape_range_and_reproducibility():
    model = VAE(transposed_conv, in_channels=3, image_size=32, latent_dim=8, width=4).eval()
    first = model.sample(6, generator=torch.Generator().manual_seed(1))
    again = model.sample(6, generator=torch.Generator().manual_seed(1))
    other = model.sample(6, generator=torch.Generator().manual_seed(2))
    assert first.shape == (6, 3, 32, 32)
    assert first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert not first.requires_grad


def test_forward_samples_but_reconstruct_uses_the_mean():
    torch.manual_seed(0)
    model = VAE(transposed_conv, in_channels=1, image_size=16, latent_dim=4, width=4).eval()
    x = torch.rand(2, 1, 16, 16)
    assert not torch.equal(model(x)[0], model(x)[0])
    mu, _ = model.encode(x)
    torch.testing.assert_close(model.reconstruct(x), model.decode(mu))


def test_reparameterize_has_the_posterior_moments():
    torch.manual_seed(0)
    mu = torch.tensor([1.0, -2.0]).expand(200_000, 2)
    logvar = torch.tensor([0.0, math.log(4.0)]).expand(200_000, 2)
    z = VAE.reparameterize(mu, logvar)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 2.0]), atol=0.02, rtol=0)


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="between 8 and 64"):
        VAE(resize_conv, image_size=128)
    model = VAE(resize_conv, in_channels=1, image_size=28, latent_dim=4, width=4)
    with pytest.raises(ValueError, match=r"N x 1 x 28 x 28.*\(2, 3, 28, 28\)"):
        model(torch.rand(2, 3, 28, 28))


def test_bce_loss_on_a_hand_computed_case():
    recon = torch.tensor([[[[0.5, 0.25]]], [[[0.8, 0.1]]]])
    x = torch.tensor([[[[1.0, 0.0]]], [[[0.0, 1.0]]]])
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    out = vae_loss(recon, x, mu, logvar, recon_loss="bce", beta=0.5)
    bce = (-math.log(0.5) - math.log(0.75) - math.log(0.2) - math.log(0.1)) / 2
    # KL per dimension: (exp(logvar) + mu^2 - 1 - logvar) / 2; the second image contributes 0.
    kl = (0.5 * (1 + 1 - 1 - 0) + 0.5 * (2 + 0 - 1 - math.log(2.0))) / 2
    assert out["recon"].item() == pytest.approx(bce)
    assert out["kl"].item() == pytest.approx(kl)
    assert out["loss"].item() == pytest.approx(bce + 0.5 * kl)


def test_mse_loss_on_a_hand_computed_case():
    recon = torch.tensor([[[[0.5, 0.25]]], [[[0.8, 0.1]]]])
    x = torch.tensor([[[[1.0, 0.0]]], [[[0.0, 1.0]]]])
    zeros = torch.zeros(2, 3)
    out = vae_loss(recon, x, zeros, zeros, recon_loss="mse")
    assert out["recon"].item() == pytest.approx((0.25 + 0.0625 + 0.64 + 0.81) / 2)
    assert out["kl"].item() == 0
    assert out["loss"].item() == pytest.approx(out["recon"].item())


def test_kl_matches_torch_distributions():
    generator = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 7, generator=generator)
    logvar = torch.randn(4, 7, generator=generator)
    images = torch.rand(4, 1, 5, 5, generator=generator)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1).mean()
    torch.testing.assert_close(vae_loss(images, images, mu, logvar)["kl"], reference)


def test_bce_matches_pytorch_per_image_sum():
    generator = torch.Generator().manual_seed(0)
    recon, x = torch.rand(3, 2, 4, 4, generator=generator), torch.rand(3, 2, 4, 4, generator=generator)
    zeros = torch.zeros(3, 2)
    reference = torch.stack([nn.functional.binary_cross_entropy(r, t, reduction="sum") for r, t in zip(recon, x)])
    torch.testing.assert_close(vae_loss(recon, x, zeros, zeros)["recon"], reference.mean())


def test_unknown_reconstruction_loss_is_rejected():
    zeros = torch.zeros(1, 2)
    with pytest.raises(ValueError, match="'bce' or 'mse'"):
        vae_loss(torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 2), zeros, zeros, recon_loss="l1")


def test_a_few_optimisation_steps_reduce_the_loss():
    torch.manual_seed(0)
    model = VAE(resize_conv, in_channels=1, image_size=16, latent_dim=4, width=4)
    images = torch.zeros(4, 1, 16, 16)
    images[:, :, 4:12, 4:12] = 1.0
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        recon, mu, logvar = model(images)
        loss = vae_loss(recon, images, mu, logvar)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("name", REGISTERED_NAMES)
def test_every_registered_upsampler_decodes_to_image_size(name):
    model = VAE(functools.partial(build_upsampler, name), in_channels=1, image_size=28, latent_dim=4, width=4)
    recon, _, _ = model(torch.rand(2, 1, 28, 28))
    assert recon.shape == (2, 1, 28, 28)
