"""3D pixel layers: fast == reference, and both == a voxel-by-voxel reading of the stated wiring."""

import itertools

import pytest
import torch
from conftest import assert_same_outputs_and_gradients, randomize, reference_and_fast

from pixeldcn.upsamplers import build_upsampler

pytestmark = pytest.mark.usefixtures("float64_default", "single_thread")

SIZES = [(2, 3, 4), (3, 1, 2), (1, 1, 1), (2, 2, 2)]
BATCHES = [1, 3]
EVEN = [(0, 0, 0), (1, 1, 0), (1, 0, 1), (0, 1, 1)]
ODD = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)]


def _place(maps, phases, shape):
    """Periodic shuffling by explicit indexing: maps[k][:, :, i, j, l] -> out[:, :, 2i+d, 2j+h, 2l+w]."""
    n, c, depth, height, width = shape
    out = torch.zeros(n, c, 2 * depth, 2 * height, 2 * width)
    for phase_map, (d, h, w) in zip(maps, phases):
        for i, j, l in itertools.product(range(depth), range(height), range(width)):
            out[:, :, 2 * i + d, 2 * j + h, 2 * l + w] = phase_map[:, :, i, j, l]
    return out


def literal_pixeldcl3d(module, x):
    """Even voxels: A, B plus the output bias. Odd voxels: the bias plus the face-tap weights times
    the six face neighbours on the grid of A and B (zero outside)."""
    a = module.conv1(x)
    b = module.conv2(a).chunk(3, dim=1)
    grid = _place([a, *b], EVEN, a.shape)
    w3, b3 = module.conv3.weight, module.bias
    out = grid + b3.view(1, -1, 1, 1, 1)
    size = grid.shape[2:]
    for z, y, x_ in itertools.product(*(range(s) for s in size)):
        if (z + y + x_) % 2 == 0:
            continue
        for axis, step in itertools.product(range(3), (-1, 1)):
            position = [z, y, x_]
            position[axis] += step
            if all(0 <= p < s for p, s in zip(position, size)):
                tap = [1, 1, 1]
                tap[axis] += step
                neighbour = grid[:, :, position[0], position[1], position[2]]
                out[:, :, z, y, x_] += neighbour @ w3[:, :, tap[0], tap[1], tap[2]].T
    return out


def literal_ipixeldcl3d(module, x):
    a = module.conv1(x)
    b = module.conv2(torch.cat([x, a], 1))
    c = module.conv3(torch.cat([x, a, b], 1))
    return _place([a, *b.chunk(3, 1), *c.chunk(4, 1)], EVEN + ODD, a.shape) + module.bias.view(1, -1, 1, 1, 1)


@pytest.mark.parametrize("name", ["pixeldcl3d", "ipixeldcl3d"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("batch", BATCHES)
def test_fast_equals_reference_outputs_and_gradients(name, size, batch):
    reference, fast = reference_and_fast(name, cin=3, cout=2, seed=sum(size))
    gen = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, 3, *size, generator=gen)
    upstream = torch.randn(batch, 2, *(2 * s for s in size), generator=gen)
    assert_same_outputs_and_gradients(reference, fast, x, upstream)


@pytest.mark.parametrize("impl", ["reference", "fast"])
@pytest.mark.parametrize("size", [(2, 3, 2), (1, 2, 1)])
def test_pixeldcl3d_matches_the_voxel_by_voxel_definition(impl, size):
    module = randomize(build_upsampler("pixeldcl3d", 2, 3, impl=impl), seed=7)
    x = torch.randn(2, 2, *size)
    torch.testing.assert_close(module(x), literal_pixeldcl3d(module, x), rtol=0, atol=1e-10)


@pytest.mark.parametrize("impl", ["reference", "fast"])
def test_ipixeldcl3d_matches_the_indexed_definition(impl):
    module = randomize(build_upsampler("ipixeldcl3d", 2, 3, impl=impl), seed=8)
    x = torch.randn(2, 2, 2, 1, 3)
    torch.testing.assert_close(module(x), literal_ipixeldcl3d(module, x), rtol=0, atol=1e-10)


def test_odd_voxels_read_their_faces_and_even_voxels_do_not_read_odd_ones():
    """One input voxel's influence: perturbing C-stage weights moves odd voxels only."""
    module = randomize(build_upsampler("pixeldcl3d", 1, 1), seed=4)
    x = torch.randn(1, 1, 2, 2, 2)
    before = module(x).detach()
    with torch.no_grad():
        module.conv3.weight[0, 0, 1, 1, 0] += 1.0  # the face tap reading the voxel on the left
    changed = (module(x).detach() - before).abs()[0, 0] > 1e-9
    parity = torch.tensor([[[(d + h + w) % 2 for w in range(4)] for h in range(4)] for d in range(4)]).bool()
    # Odd voxels with a left neighbour (column > 0) change; even voxels never do.
    assert not changed[~parity].any()
    assert changed[parity & (torch.arange(4) > 0)].all()


@pytest.mark.parametrize("name", ["pixeldcl3d", "ipixeldcl3d"])
def test_both_implementations_share_one_state_dict(name):
    reference = build_upsampler(name, 4, 6, impl="reference")
    fast = build_upsampler(name, 4, 6, impl="fast")
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(reference) == shapes(fast)
    assert {k.split(".")[0] for k in shapes(fast)} == {"conv1", "conv2", "conv3", "bias"}


def test_pixeldcl3d_masked_taps_start_and_stay_zero_under_training():
    module = build_upsampler("pixeldcl3d", 2, 3)
    faces = module.conv3_mask[0, 0].bool()
    assert faces.sum() == 6 and not faces[1, 1, 1] and faces[0, 1, 1] and faces[1, 1, 2]
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1, weight_decay=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        module(torch.randn(2, 2, 2, 3, 2)).square().mean().backward()
        optimizer.step()
    assert module.conv3.weight[:, :, ~faces].abs().sum() == 0
    assert module.conv3.weight[:, :, faces].abs().min() > 0


@pytest.mark.parametrize(("name", "c"), [("deconv3d", 1), ("deconv_torch3d", 0)])
def test_deconv3d_is_eight_shuffled_convolutions(name, c):
    """Section 2.1's reading in 3D: voxel (2i+c, 2j+c, 2l+c) receives only the centre tap of input
    (i, j, l); c = 1 in the authors' TF SAME alignment, c = 0 (the old assertion) in PyTorch's."""
    module = randomize(build_upsampler(name, 2, 3), seed=9)
    x = torch.randn(1, 2, 2, 3, 2)
    out = module(x)
    assert out.shape == (1, 3, 4, 6, 4)
    expected = torch.einsum("ncdhw,co->nodhw", x, module.weight[:, :, 1, 1, 1]) + module.bias.view(1, -1, 1, 1, 1)
    torch.testing.assert_close(out[:, :, c::2, c::2, c::2], expected)
