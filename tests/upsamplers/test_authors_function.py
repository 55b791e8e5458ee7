"""bias=False: every phase-based layer is the authors' function (a literal form without biases);
bias=True: one output bias, the same constant in every phase."""

import itertools

import pytest
import torch

from pixeldcn.upsamplers import UPSAMPLERS, UPSAMPLERS_3D, build_upsampler
from upsamplers.literal import assert_equals_literal, place, same_conv
from upsamplers.literal import at as _at

pytestmark = pytest.mark.usefixtures("float64_default", "single_thread")

CIN, COUT = 5, 7
EVEN_3D = [(0, 0, 0), (1, 1, 0), (1, 0, 1), (0, 1, 1)]
ODD_3D = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)]
PHASE_LAYERS = ["pixeldcl", "ipixeldcl", "pixeldcl_seq", "ipixeldcl_seq", "pixeldcl3d", "ipixeldcl3d"]


def literal_pixeldcl(m, x):
    f1 = same_conv(x, m.conv1.weight)
    f2 = same_conv(f1, m.conv2.weight)
    w = m.conv3.weight
    up, down, left, right = w[:, :, 0, 1], w[:, :, 2, 1], w[:, :, 1, 0], w[:, :, 1, 2]
    n, _, h, wd = f1.shape
    f3, f4 = torch.zeros_like(f1), torch.zeros_like(f1)
    for i, j in itertools.product(range(h), range(wd)):
        # F3 at (2i+1, 2j): F1 above and below, F2 left and right; F4 at (2i, 2j+1): the reverse.
        f3[:, :, i, j] = _at(f1, i, j) @ up.T + _at(f1, i + 1, j) @ down.T + _at(f2, i, j - 1) @ left.T
        f3[:, :, i, j] += _at(f2, i, j) @ right.T
        f4[:, :, i, j] = _at(f2, i - 1, j) @ up.T + _at(f2, i, j) @ down.T + _at(f1, i, j) @ left.T
        f4[:, :, i, j] += _at(f1, i, j + 1) @ right.T
    return place([f1, f2, f3, f4], [(0, 0), (1, 1), (1, 0), (0, 1)])


def literal_ipixeldcl(m, x):
    f1 = same_conv(x, m.conv1.weight)
    f2 = same_conv(torch.cat([x, f1], 1), m.conv2.weight)
    f3, f4 = same_conv(torch.cat([x, f1, f2], 1), m.conv3.weight).chunk(2, 1)
    return place([f1, f2, f3, f4], [(0, 0), (1, 1), (1, 0), (0, 1)])


def literal_seq(m, x, reads_input):
    maps = []
    for k, conv in enumerate(m.convs):
        inputs = [x, *maps] if reads_input or k == 0 else maps
        maps.append(same_conv(torch.cat(inputs, 1), conv.weight))
    return place(maps, [(0, 0), (1, 1), (1, 0), (0, 1)])


def literal_pixeldcl3d(m, x):
    a = same_conv(x, m.conv1.weight)
    grid = place([a, *same_conv(a, m.conv2.weight).chunk(3, 1)] + [torch.zeros_like(a)] * 4, EVEN_3D + ODD_3D)
    w3 = m.conv3.weight
    out = grid.clone()
    for voxel in itertools.product(*(range(s) for s in grid.shape[2:])):
        if sum(voxel) % 2 == 0:
            continue
        for axis, step in itertools.product(range(3), (-1, 1)):
            neighbour, tap = list(voxel), [1, 1, 1]
            neighbour[axis] += step
            tap[axis] += step
            out[(slice(None), slice(None), *voxel)] += _at(grid, *neighbour) @ w3[(slice(None), slice(None), *tap)].T
    return out


def literal_ipixeldcl3d(m, x):
    a = same_conv(x, m.conv1.weight)
    b = same_conv(torch.cat([x, a], 1), m.conv2.weight)
    c = same_conv(torch.cat([x, a, b], 1), m.conv3.weight)
    return place([a, *b.chunk(3, 1), *c.chunk(4, 1)], EVEN_3D + ODD_3D)


LITERAL = {
    "pixeldcl": literal_pixeldcl,
    "ipixeldcl": literal_ipixeldcl,
    "pixeldcl_seq": lambda m, x: literal_seq(m, x, reads_input=False),
    "ipixeldcl_seq": lambda m, x: literal_seq(m, x, reads_input=True),
    "pixeldcl3d": literal_pixeldcl3d,
    "ipixeldcl3d": literal_ipixeldcl3d,
}


def _randomized(module, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
        if hasattr(module, "conv3_mask"):
            module.conv3.weight.mul_(module.conv3_mask)
    return module


def _options(name):
    return {} if name.endswith("_seq") else {"impl": "fast"}


def _impls(name):
    """Every form of the layer but ``auto`` (which runs one of them); "one" for the single-form ``_seq`` layers."""
    if name.endswith("_seq"):
        return ["one"]
    layer = {**UPSAMPLERS, **UPSAMPLERS_3D}[name]
    return [impl for impl in getattr(layer, "impls", ("fast", "reference")) if impl != "auto"]


FORMS = [(name, impl) for name in PHASE_LAYERS for impl in _impls(name)]


@pytest.mark.parametrize(("name", "impl"), FORMS)
def test_without_bias_every_phase_layer_is_the_literal_form_without_bias_terms(name, impl):
    options = {} if impl == "one" else {"impl": impl}
    module = _randomized(build_upsampler(name, CIN, COUT, bias=False, **options), seed=3)
    assert module.bias is None and not any(p.ndim == 1 for p in module.parameters())
    size = (2, 2, 3) if name.endswith("3d") else (3, 4)
    x = torch.randn(2, CIN, *size, generator=torch.Generator().manual_seed(2))
    assert_equals_literal(module, LITERAL[name], x)


@pytest.mark.parametrize("name", PHASE_LAYERS)
def test_with_zero_weights_every_phase_holds_the_same_bias(name):
    """The former per-convolution biases reached the phases as different constants (a 2x2-periodic
    pattern BatchNorm cannot remove); one output bias reaches every pixel alike."""
    module = build_upsampler(name, CIN, COUT, **_options(name))
    bias = torch.randn(COUT, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
        module.bias.copy_(bias)
    size = (2, 3, 2) if name.endswith("3d") else (3, 2)
    out = module(torch.randn(2, CIN, *size))
    expected = bias.view(1, -1, *([1] * len(size))).expand_as(out)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", PHASE_LAYERS)
def test_the_bias_is_added_after_every_phase_is_generated(name):
    """With any weights, the layer with bias b is the layer without bias plus b at every pixel: no
    later phase reads the bias through an earlier one."""
    with_bias = _randomized(build_upsampler(name, CIN, COUT, **_options(name)), seed=5)
    without = build_upsampler(name, CIN, COUT, bias=False, **_options(name))
    without.load_state_dict({k: v for k, v in with_bias.state_dict().items() if k != "bias"})
    size = (2, 2, 2) if name.endswith("3d") else (3, 3)
    x = torch.randn(1, CIN, *size)
    difference = with_bias(x) - without(x)
    torch.testing.assert_close(difference, with_bias.bias.view(1, -1, *([1] * len(size))).expand_as(difference))


@pytest.mark.parametrize(
    "name", [*PHASE_LAYERS, "deconv", "deconv6", "deconv_torch", "deconv3d", "deconv_torch3d", "resize_nearest",
             "resize_bilinear", "pixel_shuffle", "pixel_shuffle_icnr"]
)  # fmt: skip
def test_every_upsampler_takes_bias_false(name):
    module = build_upsampler(name, 3, 4, bias=False)
    assert not any(parameter.ndim == 1 for parameter in module.parameters())
    assert sum(parameter.ndim == 1 for parameter in build_upsampler(name, 3, 4).parameters()) == 1


def test_an_option_a_layer_lacks_is_a_clear_error():
    with pytest.raises(ValueError, match=r"up-sampler 'deconv' takes no option init; its options: .*bias"):
        build_upsampler("deconv", 2, 2, init="balanced")
