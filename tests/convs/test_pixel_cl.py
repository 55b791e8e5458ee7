"""PixelCL: an ordinary convolution without dependencies, fast == reference, == a pixel-by-pixel reading."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_same_outputs_and_gradients, randomize

from pixeldcn.convs import CONVS, PixelCL, build_conv
from pixeldcn.convs.pixel_cl import dependency_taps

pytestmark = pytest.mark.usefixtures("float64_default", "single_thread")

# (row parity, column parity) of F1..F4, in generation order.
ORDER = {(0, 0): 0, (1, 1): 1, (1, 0): 2, (0, 1): 3}


def _at(t, i, j):
    """t[:, :, i, j], zero outside the map."""
    if 0 <= i < t.shape[2] and 0 <= j < t.shape[3]:
        return t[:, :, i, j]
    return torch.zeros(t.shape[:2])


def literal_pixelcl(module, x):
    """Section 2.4 read pixel by pixel: phase by phase, each pixel a 3x3 window of the input through
    its phase's kernel plus every already generated output pixel in its 3x3 window."""
    n, _, height, width = x.shape
    cout = module.out_channels
    out = torch.zeros(n, cout, height, width)
    for (a, b), p in sorted(ORDER.items(), key=lambda item: item[1]):
        conv = module.phase_convs[p]
        generated = out.clone()  # the earlier phases, read while ``out`` receives this one
        phase = torch.zeros(n, cout, height // 2, width // 2)
        for i, j in itertools.product(range(height // 2), range(width // 2)):
            y, xx = 2 * i + a, 2 * j + b
            value = torch.zeros(n, cout)
            for dy, dx in itertools.product(range(3), range(3)):
                value += _at(x, y + dy - 1, xx + dx - 1) @ conv.weight[:, :, dy, dx].T
                neighbour = ((y + dy - 1) % 2, (xx + dx - 1) % 2)
                if ORDER[neighbour] < p:
                    value += _at(generated, y + dy - 1, xx + dx - 1) @ module.dependencies[p - 1, :, :, dy, dx].T
            phase[:, :, i, j] = value
        out[:, :, a::2, b::2] = phase
    # One bias for every output pixel, added after all phases are generated (no phase reads it).
    return out if module.bias is None else out + module.bias.view(1, -1, 1, 1)


def test_dependency_taps_are_the_earlier_neighbours():
    diagonal = [(0, 0), (0, 2), (2, 0), (2, 2)]
    edges = [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert dependency_taps(0) == []
    assert sorted(dependency_taps(1)) == diagonal
    assert sorted(dependency_taps(2)) == edges
    assert sorted(dependency_taps(3)) == sorted(diagonal + edges)


@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("height,width", [(2, 2), (4, 6), (6, 4)])
@pytest.mark.parametrize("batch", [1, 3])
def test_equal_kernels_without_dependencies_are_one_ordinary_convolution(impl, height, width, batch):
    module = randomize(PixelCL(3, 5, impl=impl), seed=height + width)
    with torch.no_grad():
        module.dependencies.zero_()
        for conv in module.phase_convs[1:]:
            conv.weight.copy_(module.phase_convs[0].weight)
    x = torch.randn(batch, 3, height, width)
    expected = F.conv2d(x, module.phase_convs[0].weight, module.bias, padding=1)
    torch.testing.assert_close(module(x), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_the_pixel_by_pixel_definition(impl, bias):
    module = randomize(PixelCL(2, 3, bias=bias, impl=impl), seed=3)
    x = torch.randn(2, 2, 4, 6)
    torch.testing.assert_close(module(x), literal_pixelcl(module, x), rtol=0, atol=1e-10)


@pytest.mark.parametrize("height,width", [(2, 2), (4, 6), (8, 2)])
@pytest.mark.parametrize("batch", [1, 3])
def test_fast_equals_reference_outputs_and_gradients(height, width, batch):
    reference = randomize(PixelCL(3, 5, impl="reference"), seed=height * 10 + width)
    fast = PixelCL(3, 5, impl="fast")
    fast.load_state_dict(reference.state_dict())
    gen = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, 3, height, width, generator=gen)
    upstream = torch.randn(batch, 5, height, width, generator=gen)
    assert_same_outputs_and_gradients(reference, fast, x, upstream)


def _shift_first_map(module, shift):
    """Add ``shift`` to F1 as phase_convs[0] computes it (before any later phase reads F1)."""
    return module.phase_convs[0].register_forward_hook(lambda _module, _inputs, out: out + shift)


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_perturbing_the_first_map_reaches_the_later_ones_only_through_dependencies(impl):
    module = randomize(PixelCL(2, 3, impl=impl), seed=11)
    x = torch.randn(1, 2, 6, 6)
    before = module(x).detach()
    with _shift_first_map(module, 1.0), torch.no_grad():  # shifts F1 only
        changed = (module(x).detach() - before).abs().amax(dim=1) > 1e-6
    assert changed.all()  # F1 and, through the dependencies, F2, F3 and F4 everywhere

    with torch.no_grad():
        module.dependencies.zero_()
        before = module(x).detach()
        with _shift_first_map(module, 1.0):
            changed = (module(x).detach() - before).abs().amax(dim=1) > 1e-6
    assert changed[:, 0::2, 0::2].all()
    assert not changed[:, 1::2].any() and not changed[:, :, 1::2].any()


def test_a_later_pixel_reads_its_earlier_neighbour_directly():
    """With only F4's dependency tap (1, 0) non-zero, each F4 pixel reads the F1 pixel on its left."""
    module = randomize(PixelCL(1, 1), seed=2)
    with torch.no_grad():
        module.dependencies.zero_()
        module.dependencies[2, 0, 0, 1, 0] = 0.5
    # d out / d (a constant added to F1), pixel by pixel: F1 pixels pass it on with weight 1, F4
    # pixels with the dependency weight, F2 and F3 pixels not at all.
    shift = torch.zeros((), requires_grad=True)
    with _shift_first_map(module, shift):
        out = module(torch.randn(1, 1, 6, 6))
    grads = torch.stack([torch.autograd.grad(v, shift, retain_graph=True)[0] for v in out.flatten()])
    expected = torch.zeros(6, 6)
    expected[0::2, 0::2] = 1.0
    expected[0::2, 1::2] = 0.5
    torch.testing.assert_close(grads.view(6, 6), expected)


@pytest.mark.parametrize("height,width", [(5, 6), (6, 5), (1, 1), (3, 3)])
def test_odd_sizes_are_rejected_with_a_clear_error(height, width):
    with pytest.raises(ValueError, match=rf"even height and width.*got {height}x{width}"):
        PixelCL(2, 2)(torch.randn(1, 2, height, width))


def test_both_implementations_share_one_state_dict_and_masked_taps_stay_zero():
    fast, reference = PixelCL(3, 4), PixelCL(3, 4, impl="reference")
    assert {k: v.shape for k, v in fast.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
    masked = fast.dependency_masks.expand_as(fast.dependencies) == 0
    assert fast.dependencies[masked].abs().sum() == 0
    for module in (fast, reference):
        optimizer = torch.optim.Adam(module.parameters(), lr=0.1, weight_decay=1e-2)
        for _ in range(3):
            optimizer.zero_grad()
            module(torch.randn(2, 3, 4, 4)).square().mean().backward()
            optimizer.step()
        assert module.dependencies[masked].abs().sum() == 0
        assert module.dependencies[~masked].abs().min() > 0


def test_unknown_impl_and_conv_names_are_rejected():
    with pytest.raises(ValueError, match="fast, reference"):
        PixelCL(2, 2, impl="quick")
    with pytest.raises(ValueError, match=r"unknown convolution 'pixel'; valid names: conv, pixelcl"):
        build_conv("pixel", 2, 2)


def test_build_conv_gives_same_size_layers():
    assert set(CONVS) == {"conv", "pixelcl"}
    x = torch.randn(2, 3, 6, 4)
    for name in CONVS:
        for bias in (True, False):
            module = build_conv(name, 3, 5, bias=bias)
            assert module(x).shape == (2, 5, 6, 4)
            assert (sum(p.numel() for n, p in module.named_parameters() if "bias" in n) > 0) == bias


def test_without_bias_equals_the_literal_form_in_outputs_and_gradients():
    """PixelCL(5, 7, bias=False): the authors' kind of layer, no bias anywhere (literal_pixelcl reads none)."""
    module = randomize(build_conv("pixelcl", 5, 7, bias=False), seed=6)
    assert module.bias is None
    x = torch.randn(2, 5, 4, 6, requires_grad=True)
    upstream = torch.randn(2, 7, 4, 6)
    params = dict(module.named_parameters())
    grads = []
    for forward in (module, lambda t: literal_pixelcl(module, t)):
        out = forward(x)
        grads.append((out.detach(), torch.autograd.grad((out * upstream).sum(), [x, *params.values()])))
    (out_m, g_m), (out_l, g_l) = grads
    torch.testing.assert_close(out_m, out_l, rtol=0, atol=1e-10)
    for key, a, b in zip(["input", *params], g_m, g_l):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10, msg=key)


def test_with_zero_weights_every_phase_holds_the_same_bias():
    module = PixelCL(3, 4)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
        module.bias.copy_(torch.tensor([1.0, -2.0, 3.0, 0.5]))
    out = module(torch.randn(2, 3, 4, 6))
    torch.testing.assert_close(out, module.bias.view(1, -1, 1, 1).expand_as(out), rtol=0, atol=0)


@pytest.mark.parametrize(("cin", "cout"), [(3, 16), (32, 32), (64, 16)])
def test_balanced_phases_agree_within_ten_percent(cin, cout):
    torch.manual_seed(cin + cout)
    x = torch.randn(2, cin, 24, 24)

    def phase_rms(module):
        with torch.no_grad():
            out = module(x)[:, :, 4:-4, 4:-4]  # away from the zero padding
        return [out[:, :, a::2, b::2].square().mean().sqrt().item() for a, b in ((0, 0), (1, 1), (1, 0), (0, 1))]

    balanced = phase_rms(build_conv("pixelcl", cin, cout, init="balanced"))
    assert max(balanced) / min(balanced) < 1.1, balanced
    default = phase_rms(build_conv("pixelcl", cin, cout))
    assert default[3] > 1.1 * default[0], default  # F4 reads the most earlier pixels and starts largest
