"""scale_factor: every up-sampler at 2, 4, 8; stacked pixel layers equal their 2x stages in turn."""

import functools

import pytest
import torch
import torch.nn.functional as F

from pixeldcn.upsamplers import STACKED, UPSAMPLERS, UPSAMPLERS_3D, StackedUpsampler, build_upsampler

ALL_NAMES = sorted([*UPSAMPLERS, *UPSAMPLERS_3D])

pytestmark = pytest.mark.usefixtures("single_thread")


def _input(name, batch, channels, size):
    dims = 3 if name in UPSAMPLERS_3D else 2
    return torch.randn(batch, channels, *size[:dims])


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("factor", [2, 4, 8])
def test_every_upsampler_scales_by_any_power_of_two(name, factor):
    torch.manual_seed(0)
    module = build_upsampler(name, 3, 2, scale_factor=factor)
    x = _input(name, 2, 3, (1, 3, 2))
    out = module(x)
    assert out.shape == (2, 2, *(factor * s for s in x.shape[2:]))
    out.sum().backward()
    assert all(p.grad is not None for p in module.parameters())


@pytest.mark.parametrize("name", sorted(STACKED))
@pytest.mark.parametrize("factor", [4, 8])
def test_stacked_layers_equal_their_2x_stages_applied_in_turn(name, factor):
    torch.manual_seed(1)
    stacked = build_upsampler(name, 3, 2, scale_factor=factor)
    assert isinstance(stacked, StackedUpsampler) and len(stacked) == factor.bit_length() - 1
    stages = [build_upsampler(name, 3 if k == 0 else 2, 2) for k in range(len(stacked))]
    for stage, built in zip(stages, stacked):
        assert type(stage) is type(built)
        stage.load_state_dict(built.state_dict())  # strict: same keys, same shapes
    x = _input(name, 1, 3, (2, 1, 3))
    expected = x
    for stage in stages:
        expected = stage(expected)
    torch.testing.assert_close(stacked(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["pixeldcl", "pixeldcl3d"])
def test_options_reach_every_stage(name):
    stacked = build_upsampler(name, 3, 2, scale_factor=8, impl="reference")
    assert [stage.impl for stage in stacked] == ["reference"] * 3


@pytest.mark.parametrize("name", ALL_NAMES)
def test_scale_factor_2_builds_exactly_the_2x_layer(name):
    registry = {**UPSAMPLERS, **UPSAMPLERS_3D}
    torch.manual_seed(2)
    built = build_upsampler(name, 4, 3, scale_factor=2)
    torch.manual_seed(2)
    plain = registry[name](4, 3)
    assert type(built) is registry[name]
    assert built.state_dict().keys() == plain.state_dict().keys()
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(built.state_dict()[key], value, rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("factor", [3, 6, 12, 0, 1, -2, 2.0, True])
def test_other_factors_are_rejected(factor):
    with pytest.raises(ValueError, match=r"scale_factor must be a power of two >= 2 \(2, 4, 8, \.\.\.\), got"):
        build_upsampler("deconv", 2, 2, scale_factor=factor)
    with pytest.raises(ValueError, match="power of two"):
        build_upsampler("pixeldcl", 2, 2, scale_factor=factor)


@pytest.mark.parametrize(
    ("name", "factor", "kernel", "padding", "output_padding"),
    [
        # The PyTorch convention (the former deconv/deconv3d): padding ceil((k - s) / 2).
        ("deconv_torch", 2, 3, 1, 1),
        ("deconv_torch", 4, 7, 2, 1),
        ("deconv_torch", 8, 15, 4, 1),
        ("deconv_torch3d", 4, 7, 2, 1),
        # TF SAME: padding (k - s) // 2; for odd k - s one trailing output cropped, computed with
        # output padding 1 (one more output, which no tap reaches) and both cropped.
        ("deconv", 2, 3, 0, 1),
        ("deconv", 4, 7, 1, 1),
        ("deconv", 8, 15, 3, 1),
        ("deconv3d", 4, 7, 1, 1),
        ("deconv6", 2, 6, 2, 0),
        ("deconv6", 4, 12, 4, 0),
        ("deconv6", 8, 24, 8, 0),
    ],
)
def test_deconvolution_kernel_and_padding_rule(name, factor, kernel, padding, output_padding):
    module = build_upsampler(name, 2, 2, scale_factor=factor)
    dims = len(module.kernel_size)
    assert module.kernel_size == (kernel,) * dims and module.stride == (factor,) * dims
    assert module.padding == (padding,) * dims and module.output_padding == (output_padding,) * dims


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_any_kernel_at_least_the_factor_gives_exactly_the_scaled_size(factor):
    for name in ("deconv", "deconv_torch"):
        for kernel in range(factor, 3 * factor + 2):
            module = build_upsampler(name, 1, 1, scale_factor=factor, kernel_size=kernel)
            assert module(torch.randn(1, 1, 3, 5)).shape[-2:] == (3 * factor, 5 * factor), (name, kernel)
        message = f"a {factor}x deconvolution needs kernel_size >= {factor}, got {factor - 1}"
        with pytest.raises(ValueError, match=message):
            build_upsampler(name, 1, 1, scale_factor=factor, kernel_size=factor - 1)


@pytest.mark.parametrize(("name", "offset"), [("deconv_torch", 1), ("deconv", 2)])
def test_deconv_at_4x_centres_each_input_pixel_in_its_4x4_block(name, offset):
    """Kernel 7: input (i, j)'s centre tap lands on (4i + o, 4j + o), next to the block's centre
    (an odd kernel cannot sit on the even block's exact centre): top-left of it (o = 1, padding 2)
    in the PyTorch convention, the former deconv's assertion; bottom-right (o = 2) in TF SAME,
    which pads one output before and two after."""
    module = build_upsampler(name, 1, 1, scale_factor=4)
    with torch.no_grad():
        module.weight.zero_()
        module.weight[0, 0, 3, 3] = 1.0
        module.bias.zero_()
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 2] = 1.0
    out = module(x)
    assert out[0, 0, 4 + offset, 8 + offset] == 1.0 and out.sum() == 1.0


def test_resize_and_shuffle_scale_in_one_step():
    torch.manual_seed(3)
    x = torch.randn(1, 2, 3, 2)
    nearest = build_upsampler("resize_nearest", 2, 3, scale_factor=4)
    torch.testing.assert_close(nearest(x), nearest.conv(x.repeat_interleave(4, 2).repeat_interleave(4, 3)))
    bilinear = build_upsampler("resize_bilinear", 2, 3, scale_factor=8)
    expected = bilinear.conv(F.interpolate(x, scale_factor=8, mode="bilinear", align_corners=False))
    torch.testing.assert_close(bilinear(x), expected)
    shuffle = build_upsampler("pixel_shuffle", 2, 3, scale_factor=4)
    assert shuffle.conv.out_channels == 16 * 3
    torch.testing.assert_close(shuffle(x), F.pixel_shuffle(shuffle.conv(x), 4))


def test_icnr_at_4x_starts_as_conv_then_nearest():
    torch.manual_seed(4)
    x = torch.randn(2, 3, 4, 5)
    module = build_upsampler("pixel_shuffle_icnr", 3, 2, scale_factor=4)
    out = module(x)
    blocks = out.unfold(2, 4, 4).unfold(3, 4, 4).flatten(-2)
    torch.testing.assert_close(blocks, blocks[..., :1].expand_as(blocks))


def test_factories_compose_with_scale_factor():
    factory = functools.partial(build_upsampler, "ipixeldcl", scale_factor=4)
    assert factory(2, 3)(torch.randn(1, 2, 2, 2)).shape == (1, 3, 8, 8)
