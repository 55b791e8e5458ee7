"""GVAE and GVAE3D: the seed's layer plan, the up-sampler slot, per-sample critic scores."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from pixeldcn.models import GVAE, GVAE3D
from pixeldcn.models.gvae import ResidualBlock
from pixeldcn.upsamplers import UPSAMPLERS, UPSAMPLERS_3D, build_upsampler

TINY = {"latent_dim": 6, "generator_channels": (8, 4, 4), "critic_channels": (4, 4, 8), "blocks_per_stage": 1}


@pytest.mark.parametrize("name", sorted(UPSAMPLERS))
def test_every_2d_upsampler_fills_the_generator_slot(name):
    torch.manual_seed(0)
    model = GVAE(partial(build_upsampler, name), in_channels=3, image_size=8, **TINY)
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    reconstruction, mu, logvar = model(x)
    assert reconstruction.shape == x.shape and mu.shape == logvar.shape == (2, 6)
    assert model.critique(x).shape == (2,)
    samples = model.eval().sample(3, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (3, 3, 8, 8) and samples.abs().max() <= 1


@pytest.mark.parametrize("name", sorted(UPSAMPLERS_3D))
def test_gvae3d_takes_the_3d_upsamplers(name):
    model = GVAE3D(partial(build_upsampler, name), image_size=8, **TINY)
    x = torch.rand(2, 1, 8, 8, 8) * 2 - 1
    assert model(x)[0].shape == x.shape and model.critique(x).shape == (2,)
    assert sum(isinstance(module, nn.Conv3d) for module in model.critic.modules()) >= 4


def test_a_2d_upsampler_in_gvae3d_is_refused_naming_the_3d_ones():
    with pytest.raises(ValueError, match="pixeldcl3d"):
        GVAE3D(partial(build_upsampler, "pixeldcl"), image_size=8, **TINY)


def test_the_factory_is_called_once_per_upsampling_row_keeping_the_channels():
    calls = []

    def factory(cin: int, cout: int) -> nn.Module:
        calls.append((cin, cout))
        return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 3, padding=1))

    GVAE(factory, image_size=16, latent_dim=4, generator_channels=(16, 8, 4), critic_channels=(4, 8))
    assert calls == [(16, 16), (8, 8)]


def test_the_seed_plan_at_reduced_widths_has_tables_1_and_2():
    """Table 1/2's structure with every width divided by 16 and 128 px divided by 8: FC to C x S/4 x S/4,
    two blocks per stage, two up-samplings; critic stem, blocks 64->64, 64->128, pool, 128->128, 128->256, pool."""
    model = GVAE(
        partial(build_upsampler, "deconv"),
        in_channels=3,
        image_size=16,
        latent_dim=32,
        generator_channels=(16, 8, 4),
        critic_channels=(4, 8, 16),
        blocks_per_stage=2,
    )
    fc = model.generator.input[0]
    assert (fc.in_features, fc.out_features) == (32, 16 * 4 * 4)
    generator_blocks = [m for m in model.generator.blocks if isinstance(m, ResidualBlock)]
    pairs = [(block.conv1.in_channels, block.conv2.out_channels) for block in generator_blocks]
    assert pairs == [(16, 16), (16, 16), (16, 8), (8, 8), (8, 4), (4, 4)]
    assert model.generator.output[0].out_channels == 3
    critic_layers = list(model.critic.trunk)
    critic_pairs = [(m.conv1.in_channels, m.conv2.out_channels) for m in critic_layers if isinstance(m, ResidualBlock)]
    assert critic_pairs == [(4, 4), (4, 8), (8, 8), (8, 16)]
    assert sum(isinstance(m, nn.AvgPool2d) for m in critic_layers) == 2
    assert (model.critic.fc.in_features, model.critic.fc.out_features) == (16 * 4 * 4, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.critic.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.encoder.modules())


@pytest.mark.parametrize(("norm", "independent"), [("layer", True), ("none", True), ("batch", False)])
def test_critic_scores_depend_on_their_own_image_only_unless_batch_norm(norm, independent):
    torch.manual_seed(0)
    model = GVAE(partial(build_upsampler, "deconv"), image_size=8, dropout=0.0, critic_norm=norm, **TINY).train()
    x = torch.randn(4, 1, 8, 8)
    together = model.critique(x)
    alone = torch.cat([model.critique(x[i : i + 1].expand(2, -1, -1, -1))[:1] for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5) == independent


def test_sizes_that_the_plan_cannot_halve_are_refused():
    with pytest.raises(ValueError, match="divisible by 4"):
        GVAE(partial(build_upsampler, "deconv"), image_size=30, **TINY)
    with pytest.raises(ValueError, match="critic_norm"):
        GVAE(partial(build_upsampler, "deconv"), image_size=8, critic_norm="instance", **{**TINY})
    model = GVAE(partial(build_upsampler, "deconv"), image_size=8, **TINY)
    with pytest.raises(ValueError, match="N x 1 x 8 x 8"):
        model.encode(torch.zeros(1, 1, 16, 16))


def test_reparameterize_draws_from_the_given_generator():
    mu, logvar = torch.zeros(3, 5), torch.full((3, 5), 2 * torch.log(torch.tensor(3.0)).item())
    first = GVAE.reparameterize(mu, logvar, torch.Generator().manual_seed(4))
    noise = torch.randn(3, 5, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(first, 3 * noise)
