"""The 3D registry, dimensionality checks, and models refusing up-samplers of the other kind."""

import functools

import pytest
import torch
from torch import nn

from pixeldcn.models import UNet, UNet3D
from pixeldcn.upsamplers import UPSAMPLERS, UPSAMPLERS_3D, build_upsampler, require_spatial_dims, spatial_dims

pytestmark = pytest.mark.usefixtures("single_thread")


def test_3d_registry_is_separate_from_the_2d_one():
    assert set(UPSAMPLERS_3D) == {"deconv3d", "deconv_torch3d", "pixeldcl3d", "ipixeldcl3d"}
    assert not set(UPSAMPLERS_3D) & set(UPSAMPLERS)


@pytest.mark.parametrize("name", sorted(UPSAMPLERS_3D))
@pytest.mark.parametrize("size", [(1, 1, 1), (2, 3, 1), (3, 2, 4)])
def test_every_3d_upsampler_doubles_any_volume(name, size):
    torch.manual_seed(0)
    module = build_upsampler(name, 3, 2)
    out = module(torch.randn(2, 3, *size))
    assert out.shape == (2, 2, *(2 * s for s in size))
    out.sum().backward()
    assert all(p.grad is not None for p in module.parameters())


def test_unknown_name_lists_both_registries():
    with pytest.raises(ValueError, match=r"unknown up-sampler 'nope'; valid names: .*pixeldcl.*pixeldcl3d"):
        build_upsampler("nope", 2, 2)


@pytest.mark.parametrize("name", sorted([*UPSAMPLERS, *UPSAMPLERS_3D]))
@pytest.mark.parametrize("factor", [2, 4])
def test_every_registered_upsampler_reports_its_dimensionality(name, factor):
    assert spatial_dims(build_upsampler(name, 2, 2, scale_factor=factor)) == (3 if name in UPSAMPLERS_3D else 2)


def test_plain_modules_report_the_rank_of_their_first_convolution():
    assert spatial_dims(nn.ConvTranspose3d(2, 2, 2, stride=2)) == 3
    assert spatial_dims(nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(2, 2, 3))) == 2
    assert spatial_dims(nn.Upsample(scale_factor=2)) is None
    upsample = nn.Upsample(scale_factor=2)
    assert require_spatial_dims(upsample, 3, "UNet3D") is upsample


@pytest.mark.parametrize("name", sorted(UPSAMPLERS_3D))
def test_unet_refuses_3d_upsamplers_when_built(name):
    with pytest.raises(ValueError, match=r"UNet needs 2D up-samplers but its factory built a 3D .*one of: deconv,"):
        UNet(num_classes=3, upsampler=functools.partial(build_upsampler, name), width=2)


@pytest.mark.parametrize(
    "factory", [functools.partial(build_upsampler, "pixeldcl"), lambda c, o: nn.ConvTranspose2d(c, o, 2, 2)]
)
def test_unet3d_refuses_2d_upsamplers_when_built(factory):
    message = (
        r"UNet3D needs 3D up-samplers but its factory built a 2D .*deconv3d, deconv_torch3d, pixeldcl3d, ipixeldcl3d"
    )
    with pytest.raises(ValueError, match=message):
        UNet3D(num_classes=3, upsampler=factory, width=2, depth=2)
