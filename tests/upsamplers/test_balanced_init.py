"""init="balanced": every output phase starts with the same variance for unit-variance input."""

import itertools

import pytest
import torch

from pixeldcn.upsamplers import build_upsampler

pytestmark = pytest.mark.usefixtures("single_thread")

LAYERS_2D = ["pixeldcl", "ipixeldcl", "pixeldcl_seq", "ipixeldcl_seq"]
LAYERS_3D = ["pixeldcl3d", "ipixeldcl3d"]


def phase_rms(module, in_channels, dims, size, seed):
    """RMS of each output phase on a unit-variance input, two pixels from the border (where the
    zero padding of the convolutions lowers the variance) left out."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2, in_channels, *([size] * dims), generator=generator)
    with torch.no_grad():
        out = module(x)
    values = []
    for phase in itertools.product((0, 1), repeat=dims):
        phase_map = out[(slice(None), slice(None), *(slice(o, None, 2) for o in phase))]
        interior = phase_map[(slice(None), slice(None), *([slice(2, -2)] * dims))]
        values.append(interior.square().mean().sqrt().item())
    return values


def _spread(values):
    return max(values) / min(values)


@pytest.mark.parametrize("name", LAYERS_2D)
@pytest.mark.parametrize(("cin", "cout"), [(3, 16), (16, 16), (64, 32), (32, 64)])
def test_balanced_phases_agree_within_ten_percent(name, cin, cout):
    torch.manual_seed(cin + cout)
    balanced = phase_rms(build_upsampler(name, cin, cout, init="balanced"), cin, 2, 24, seed=0)
    assert _spread(balanced) < 1.1, balanced
    # The default start is far from it (the later maps are smaller), so the test measures something.
    default = phase_rms(build_upsampler(name, cin, cout), cin, 2, 24, seed=0)
    assert _spread(default) > 1.2, default


@pytest.mark.parametrize("name", LAYERS_3D)
@pytest.mark.parametrize(("cin", "cout"), [(4, 16), (16, 8)])
def test_balanced_3d_phases_agree_within_ten_percent(name, cin, cout):
    torch.manual_seed(cin * cout)
    balanced = phase_rms(build_upsampler(name, cin, cout, init="balanced"), cin, 3, 10, seed=1)
    assert len(balanced) == 8 and _spread(balanced) < 1.1, balanced
    assert _spread(phase_rms(build_upsampler(name, cin, cout), cin, 3, 10, seed=1)) > 1.2


@pytest.mark.parametrize("name", ["pixeldcl", "pixeldcl3d"])
def test_balanced_keeps_the_first_map_and_the_masked_taps(name):
    torch.manual_seed(0)
    default = build_upsampler(name, 4, 6)
    torch.manual_seed(0)
    balanced = build_upsampler(name, 4, 6, init="balanced")
    torch.testing.assert_close(balanced.conv1.weight, default.conv1.weight, rtol=0, atol=0)
    assert (balanced.conv3.weight * (1 - balanced.conv3_mask)).abs().sum() == 0
    assert not torch.allclose(balanced.conv2.weight, default.conv2.weight)


def test_unknown_init_is_rejected():
    with pytest.raises(ValueError, match=r"init must be one of default, balanced; got 'icnr'"):
        build_upsampler("pixeldcl", 2, 2, init="icnr")
