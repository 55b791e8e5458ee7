import functools

import pytest
import torch

from pixeldcn.upsamplers import UPSAMPLERS, build_upsampler

EXPECTED_NAMES = {
    "deconv", "deconv6", "deconv_torch", "ipixeldcl", "pixeldcl", "pixeldcl_2x2", "ipixeldcl_seq", "pixeldcl_seq",
    "resize_nearest", "resize_bilinear", "pixel_shuffle", "pixel_shuffle_icnr",
}  # fmt: skip


def test_registry_has_the_papers_layers_and_the_modern_alternatives():
    assert set(UPSAMPLERS) == EXPECTED_NAMES


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
@pytest.mark.parametrize("height,width", [(1, 1), (1, 4), (3, 5), (4, 4), (7, 2)])
def test_every_upsampler_doubles_any_spatial_size(name, height, width):
    torch.manual_seed(0)
    module = build_upsampler(name, 3, 5)
    out = module(torch.randn(2, 3, height, width))
    assert out.shape == (2, 5, 2 * height, 2 * width)
    out.sum().backward()
    assert all(p.grad is not None for p in module.parameters())


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as excinfo:
        build_upsampler("nope", 4, 4)
    message = str(excinfo.value)
    assert "'nope'" in message
    assert all(name in message for name in EXPECTED_NAMES)


@pytest.mark.parametrize(
    ("name", "impls"), [("pixeldcl", "fast, two_tap, reference"), ("ipixeldcl", "fast, reference")]
)
def test_unknown_impl_is_rejected(name, impls):
    with pytest.raises(ValueError, match=impls):
        build_upsampler(name, 4, 4, impl="quick")


def test_options_reach_the_constructor_and_factories_compose():
    factory = functools.partial(build_upsampler, "pixeldcl", impl="reference")
    assert factory(2, 3).impl == "reference"
    assert build_upsampler("deconv", 2, 3, kernel_size=4).kernel_size == (4, 4)


def test_deconv_kernels_match_the_paper_and_released_code():
    # The PyTorch-convention layer keeps the former deconv's arguments; deconv itself is TF SAME
    # (padding 0, one trailing output cropped, computed with one more that no tap reaches and cropped
    # too; tests/upsamplers/test_alignment.py).
    dcl = build_upsampler("deconv_torch", 8, 4)
    assert (dcl.kernel_size, dcl.stride, dcl.padding, dcl.output_padding) == ((3, 3), (2, 2), (1, 1), (1, 1))
    tf = build_upsampler("deconv", 8, 4)
    assert (tf.kernel_size, tf.stride, tf.padding, tf.output_padding, tf.trailing) == (
        (3, 3),
        (2, 2),
        (0, 0),
        (1, 1),
        1,
    )
    dcl6 = build_upsampler("deconv6", 8, 4)
    assert (dcl6.kernel_size, dcl6.stride, dcl6.padding, dcl6.output_padding) == ((6, 6), (2, 2), (2, 2), (0, 0))


def test_icnr_starts_free_of_checkerboard_and_plain_shuffle_does_not():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6)
    out = build_upsampler("pixel_shuffle_icnr", 4, 3)(x)
    # Every 2x2 block holds one value: a conv followed by nearest-neighbour up-sampling.
    blocks = out.unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2)
    assert torch.allclose(blocks, blocks[..., :1].expand_as(blocks))
    plain = build_upsampler("pixel_shuffle", 4, 3)(x).unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2)
    assert not torch.allclose(plain, plain[..., :1].expand_as(plain))


def test_resize_variants_interpolate_before_the_convolution():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 3, 3)
    nearest = build_upsampler("resize_nearest", 2, 2)
    expected = nearest.conv(x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))
    torch.testing.assert_close(nearest(x), expected)
    bilinear = build_upsampler("resize_bilinear", 2, 2)
    assert not torch.allclose(bilinear(x), bilinear.conv(x.repeat_interleave(2, 2).repeat_interleave(2, 3)))
