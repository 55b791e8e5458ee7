"""PixelDCL / iPixelDCL: fast == reference, and both == a pixel-by-pixel reading of the paper."""

import itertools

import pytest
import torch
from conftest import (
    assert_same_outputs_and_gradients,
    autograd_steps,
    randomize,
    reference_and_fast,
    set_matmul_forms_pay,
)

from pixeldcn.upsamplers import build_upsampler
from pixeldcn.upsamplers.edge_taps import TwoTapKernels

pytestmark = pytest.mark.usefixtures("float64_default")

SIZES = [(4, 6), (5, 3), (1, 1), (2, 7)]
BATCHES = [1, 3]


def _at(t, i, j):
    """t[:, :, i, j] with zero padding outside the map (a convolution's padding=1)."""
    if 0 <= i < t.shape[2] and 0 <= j < t.shape[3]:
        return t[:, :, i, j]
    return torch.zeros(t.shape[:2])


def literal_pixeldcl(module, x):
    """Eqn. 3 / Fig. 6 evaluated output pixel by output pixel, independent of either implementation."""
    f1 = module.conv1(x)
    f2 = module.conv2(f1)
    w, b = module.conv3.weight, module.bias
    up, down, left, right = w[:, :, 0, 1], w[:, :, 2, 1], w[:, :, 1, 0], w[:, :, 1, 2]
    n, _, h, wd = f1.shape
    out = torch.zeros(n, w.shape[0], 2 * h, 2 * wd)
    for i, j in itertools.product(range(h), range(wd)):
        out[:, :, 2 * i, 2 * j] = f1[:, :, i, j] + b
        out[:, :, 2 * i + 1, 2 * j + 1] = f2[:, :, i, j] + b
        # F3 at (2i+1, 2j): F1 above and below, F2 left and right.
        out[:, :, 2 * i + 1, 2 * j] = (
            _at(f1, i, j) @ up.T + _at(f1, i + 1, j) @ down.T + _at(f2, i, j - 1) @ left.T + _at(f2, i, j) @ right.T + b
        )
        # F4 at (2i, 2j+1): F2 above and below, F1 left and right.
        out[:, :, 2 * i, 2 * j + 1] = (
            _at(f2, i - 1, j) @ up.T + _at(f2, i, j) @ down.T + _at(f1, i, j) @ left.T + _at(f1, i, j + 1) @ right.T + b
        )
    return out


def literal_ipixeldcl(module, x):
    """Eqn. 2 with F3, F4 from one convolution, shuffled by explicit indexing."""
    f1 = module.conv1(x)
    f2 = module.conv2(torch.cat([x, f1], 1))
    f34 = module.conv3(torch.cat([x, f1, f2], 1))
    cout = f1.shape[1]
    n, _, h, w = f1.shape
    out = torch.zeros(n, cout, 2 * h, 2 * w)
    b = module.bias
    for i, j in itertools.product(range(h), range(w)):
        out[:, :, 2 * i, 2 * j] = f1[:, :, i, j] + b
        out[:, :, 2 * i + 1, 2 * j + 1] = f2[:, :, i, j] + b
        out[:, :, 2 * i + 1, 2 * j] = f34[:, :cout, i, j] + b
        out[:, :, 2 * i, 2 * j + 1] = f34[:, cout:, i, j] + b
    return out


@pytest.mark.parametrize(("name", "impl"), [("pixeldcl", "fast"), ("pixeldcl", "two_tap"), ("ipixeldcl", "fast")])
@pytest.mark.parametrize("height,width", SIZES)
@pytest.mark.parametrize("batch", BATCHES)
def test_fast_equals_reference_outputs_and_gradients(name, impl, height, width, batch):
    reference, fast = reference_and_fast(name, cin=3, cout=5, seed=height * 10 + width, impl=impl)
    gen = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, 3, height, width, generator=gen)
    upstream = torch.randn(batch, 5, 2 * height, 2 * width, generator=gen)
    assert_same_outputs_and_gradients(reference, fast, x, upstream)


@pytest.mark.parametrize("impl", ["reference", "fast", "two_tap"])
@pytest.mark.parametrize("height,width", [(3, 4), (1, 2)])
def test_pixeldcl_matches_the_pixel_by_pixel_definition(impl, height, width):
    module = randomize(build_upsampler("pixeldcl", 2, 3, impl=impl), seed=7)
    x = torch.randn(2, 2, height, width)
    torch.testing.assert_close(module(x), literal_pixeldcl(module, x), rtol=0, atol=1e-10)


@pytest.mark.parametrize("impl", ["reference", "fast"])
def test_ipixeldcl_matches_the_indexed_definition(impl):
    module = randomize(build_upsampler("ipixeldcl", 2, 3, impl=impl), seed=8)
    x = torch.randn(2, 2, 3, 5)
    torch.testing.assert_close(module(x), literal_ipixeldcl(module, x), rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["pixeldcl", "ipixeldcl"])
def test_both_implementations_share_one_state_dict(name):
    reference = build_upsampler(name, 4, 6, impl="reference")
    fast = build_upsampler(name, 4, 6, impl="fast")
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(reference) == shapes(fast)
    assert {k.split(".")[0] for k in shapes(fast)} == {"conv1", "conv2", "conv3", "bias"}
    assert all(isinstance(getattr(fast, c), torch.nn.Conv2d) for c in ("conv1", "conv2", "conv3"))
    assert all(getattr(fast, c).bias is None for c in ("conv1", "conv2", "conv3")) and shapes(fast)["bias"] == (6,)
    assert fast.conv3.kernel_size == (3, 3)


@pytest.mark.parametrize("name", ["pixeldcl", "ipixeldcl"])
def test_fast_form_trains_under_bfloat16_autocast(name):
    """Under autocast the fast forms compute in bfloat16 and hand float32 gradients to float32 weights,
    close to the float32 ones (bfloat16 keeps about 3 significant digits)."""
    module = randomize(build_upsampler(name, 3, 4), seed=3).float()
    x = torch.randn(2, 3, 5, 4, dtype=torch.float32)
    upstream = torch.randn(2, 4, 10, 8, dtype=torch.float32)
    (module(x) * upstream).sum().backward()
    exact = {key: p.grad.clone() for key, p in module.named_parameters()}
    module.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(x)
    (out.float() * upstream).sum().backward()
    assert out.dtype == torch.bfloat16
    for key, p in module.named_parameters():
        assert p.grad.dtype == torch.float32
        torch.testing.assert_close(p.grad, exact[key], rtol=0.05, atol=0.05 * exact[key].abs().max().item(), msg=key)


def test_pixeldcl_masked_taps_start_and_stay_zero_under_training():
    module = build_upsampler("pixeldcl", 3, 4)
    corner_and_centre = [(0, 0), (0, 2), (1, 1), (2, 0), (2, 2)]
    assert all(module.conv3.weight[:, :, dy, dx].abs().sum() == 0 for dy, dx in corner_and_centre)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1, weight_decay=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        module(torch.randn(2, 3, 5, 5)).square().mean().backward()
        optimizer.step()
    for dy, dx in corner_and_centre:
        assert module.conv3.weight[:, :, dy, dx].abs().sum() == 0
    assert module.conv3.weight[:, :, 0, 1].abs().sum() > 0


@pytest.mark.parametrize("name", ["ipixeldcl_seq", "pixeldcl_seq"])
def test_sequential_variants_make_f4_depend_on_f3(name):
    module = randomize(build_upsampler(name, 2, 2), seed=5)
    x = torch.randn(1, 2, 3, 3)
    maps = []
    for k, conv in enumerate(module.convs):
        inputs = maps if name == "pixeldcl_seq" and k > 0 else [x, *maps]
        maps.append(conv(torch.cat(inputs, 1)))
    f1, f2, f3, f4 = (m + module.bias.view(1, -1, 1, 1) for m in maps)
    out = module(x)
    torch.testing.assert_close(out[:, :, 0::2, 0::2], f1)
    torch.testing.assert_close(out[:, :, 1::2, 1::2], f2)
    torch.testing.assert_close(out[:, :, 1::2, 0::2], f3)
    torch.testing.assert_close(out[:, :, 0::2, 1::2], f4)
    # F4's kernel has a slice reading F3, and it matters.
    assert module.convs[3].in_channels == (3 * 2 if name == "pixeldcl_seq" else 2 + 3 * 2)
    with torch.no_grad():
        module.convs[3].weight[:, -2:].zero_()
    assert not torch.allclose(module(x)[:, :, 0::2, 1::2], f4)


@pytest.mark.parametrize(("name", "centre_phase"), [("deconv", 1), ("deconv_torch", 0)])
def test_deconvolution_is_four_shuffled_convolutions(name, centre_phase):
    """Section 2.1's reading of DCL, checked on both 3x3 baselines: each phase is a convolution.

    The phase that receives only the centre tap is (odd, odd) in the authors' TF SAME alignment
    (``deconv``; the old assertion, (even, even), now holds for ``deconv_torch``)."""
    module = randomize(build_upsampler(name, 2, 3), seed=9)
    x = torch.randn(1, 2, 4, 5)
    out = module(x)
    # out[2i + c, 2j + c] receives only the centre tap w[:, :, 1, 1] of input (i, j).
    w = module.weight  # Cin x Cout x 3 x 3
    expected = torch.einsum("nchw,co->nohw", x, w[:, :, 1, 1]) + module.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(out[:, :, centre_phase::2, centre_phase::2], expected)


@pytest.mark.parametrize("products_pay", [True, False])
def test_pixeldcl_auto_takes_the_matrix_products_from_128_channels_on_where_they_pay(monkeypatch, products_pay):
    set_matmul_forms_pay(monkeypatch, products_pay)
    wide, narrow = build_upsampler("pixeldcl", 2, 128), build_upsampler("pixeldcl", 2, 127)
    assert wide.impl == narrow.impl == "auto"
    x = torch.randn(1, 2, 2, 2)
    assert ("EdgeTapsShuffleBackward" in autograd_steps(wide(x))) is products_pay
    assert "EdgeTapsShuffleBackward" not in autograd_steps(narrow(x))


def test_two_tap_kernels_gradient_is_the_finite_difference_and_zero_off_the_edge_taps():
    """TwoTapKernels hands its two kernels' gradients back as one 3x3 weight gradient; finite
    differences in float64 are the oracle, also when only one of the kernels reaches the loss."""
    weight = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda w: TwoTapKernels.apply(w), (weight,))
    torch.autograd.gradcheck(lambda w: TwoTapKernels.apply(w)[1].sin().sum(), (weight,))
    vertical, horizontal = TwoTapKernels.apply(weight)
    (vertical.sum() + 2 * horizontal.sum()).backward()
    expected = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 2.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(weight.grad, expected.expand_as(weight), rtol=0, atol=0)
