"""``conv3x3_same`` is ``F.conv2d(x, w, padding=1)`` in both of its forms, outputs and gradients (float64)."""

import pytest
import torch
import torch.nn.functional as F
from conftest import autograd_steps, set_matmul_forms_pay

from pixeldcn.layers import small_image_conv
from pixeldcn.upsamplers import build_upsampler
from upsamplers.test_pixel_layers import literal_ipixeldcl

pytestmark = pytest.mark.usefixtures("float64_default")


def _value_and_grads(fn, x, weight, upstream):
    x, weight = x.detach().requires_grad_(True), weight.detach().requires_grad_(True)
    out = fn(x, weight)
    return [out, *torch.autograd.grad(out, [x, weight], upstream)]


@pytest.mark.parametrize("matmul", [True, False])
@pytest.mark.parametrize("size", [(1, 1), (3, 5), (4, 4)])
def test_both_forms_are_the_padded_convolution(monkeypatch, matmul, size):
    set_matmul_forms_pay(monkeypatch, True)
    monkeypatch.setattr(small_image_conv, "MATMUL_UP_TO_PIXELS", 10**6 if matmul else 0)
    monkeypatch.setattr(small_image_conv, "MATMUL_FROM_WEIGHT_MATRIX", 1)
    gen = torch.Generator().manual_seed(size[0])
    x, weight = torch.randn(2, 3, *size, generator=gen), torch.randn(5, 3, 3, 3, generator=gen)
    upstream = torch.randn(2, 5, *size, generator=gen)
    got = _value_and_grads(small_image_conv.conv3x3_same, x, weight, upstream)
    expected = _value_and_grads(lambda x, w: F.conv2d(x, w, padding=1), x, weight, upstream)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-12)


def test_ipixeldcl_on_the_matrix_product_path_is_still_the_paper_layer(monkeypatch):
    set_matmul_forms_pay(monkeypatch, True)
    monkeypatch.setattr(small_image_conv, "MATMUL_FROM_WEIGHT_MATRIX", 1)
    module = build_upsampler("ipixeldcl", 2, 3)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_()
    x = torch.randn(2, 2, 3, 4)
    assert "Im2ColBackward0" in autograd_steps(module(x))
    torch.testing.assert_close(module(x), literal_ipixeldcl(module, x), rtol=0, atol=1e-10)
