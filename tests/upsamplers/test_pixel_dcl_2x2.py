"""pixeldcl_2x2 (NIPS Fig. 4): the F2 pixel reads its four diagonal F1 neighbours; fast == reference."""

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_same_outputs_and_gradients, reference_and_fast

from pixeldcn.upsamplers import build_upsampler
from upsamplers.literal import assert_equals_literal, place
from upsamplers.literal import at as _at

pytestmark = pytest.mark.usefixtures("float64_default", "single_thread")


def conv2x2_tf_same(x, weight):
    """2x2 cross-correlation padded (0 before, 1 after) per axis: out[i, j] reads x[i..i+1, j..j+1]."""
    return F.conv2d(F.pad(x, (0, 1, 0, 1)), weight)


def literal_pixeldcl_2x2(m, x):
    f1 = conv2x2_tf_same(x, m.conv1.weight)
    f2 = conv2x2_tf_same(f1, m.conv2.weight)
    w = m.conv3.weight
    up, down, left, right = w[:, :, 0, 1], w[:, :, 2, 1], w[:, :, 1, 0], w[:, :, 1, 2]
    f3, f4 = torch.zeros_like(f1), torch.zeros_like(f1)
    for i in range(f1.shape[2]):
        for j in range(f1.shape[3]):
            f3[:, :, i, j] = _at(f1, i, j) @ up.T + _at(f1, i + 1, j) @ down.T + _at(f2, i, j - 1) @ left.T
            f3[:, :, i, j] += _at(f2, i, j) @ right.T
            f4[:, :, i, j] = _at(f2, i - 1, j) @ up.T + _at(f2, i, j) @ down.T + _at(f1, i, j) @ left.T
            f4[:, :, i, j] += _at(f1, i, j + 1) @ right.T
    return place([f1, f2, f3, f4], [(0, 0), (1, 1), (1, 0), (0, 1)])


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_equals_the_literal_form_of_fig_4_without_bias(impl):
    module = build_upsampler("pixeldcl_2x2", 5, 7, bias=False, impl=impl)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
        module.conv3.weight.mul_(module.conv3_mask)
    assert module.conv1.kernel_size == module.conv2.kernel_size == (2, 2) and module.conv3.kernel_size == (3, 3)
    assert_equals_literal(module, literal_pixeldcl_2x2, torch.randn(2, 5, 3, 4))


def test_f2_reads_exactly_its_four_diagonal_f1_neighbours():
    module = build_upsampler("pixeldcl_2x2", 1, 1, bias=False)
    f1 = torch.zeros(1, 1, 3, 3, requires_grad=True)
    f2 = module.conv2(f1)
    (grad,) = torch.autograd.grad(f2[0, 0, 1, 1], f1)
    # F2 at (1, 1) sits at grid (3, 3); its diagonal F1 neighbours are grid (2|4, 2|4) = F1 (1|2, 1|2).
    assert grad[0, 0].nonzero().tolist() == [[1, 1], [1, 2], [2, 1], [2, 2]]


@pytest.mark.parametrize("size", [(1, 1), (4, 3)])
def test_fast_equals_reference(size):
    reference, fast = reference_and_fast("pixeldcl_2x2", 3, 5, seed=1)
    x = torch.randn(2, 3, *size)
    assert_same_outputs_and_gradients(reference, fast, x, torch.randn(2, 5, 2 * size[0], 2 * size[1]))
