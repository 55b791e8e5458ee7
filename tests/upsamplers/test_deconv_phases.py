"""``deconv``/``deconv6``: the phase-decomposed form (``impl="phases"``), the matrix product and col2im
(``impl="gemm"``) and PyTorch's strided transposed convolution (``impl="native"``) all equal the full
``conv_transpose2d`` cropped TF SAME, in outputs and in every gradient, and share ``ConvTranspose2d``'s
state dict."""

import pytest
import torch
import torch.nn.functional as F
from conftest import autograd_steps, set_matmul_forms_pay
from torch import nn

from pixeldcn.upsamplers import build_upsampler
from pixeldcn.upsamplers import deconv as deconv_module

pytestmark = pytest.mark.usefixtures("float64_default", "single_thread")

# (in, out, H, W): odd and unequal sides, a single pixel, a single row.
SIZES = [(5, 7, 4, 6), (3, 2, 1, 1), (4, 3, 5, 3), (2, 3, 1, 4)]


def tf_same_oracle(x, weight, bias, stride):
    """The whole transposed convolution, then TF's crop: (k - s) // 2 before, keep s * H."""
    k = weight.shape[-1]
    before = (k - stride) // 2
    full = F.conv_transpose2d(x, weight, bias, stride=stride)
    h, w = x.shape[-2:]
    return full[:, :, before : before + stride * h, before : before + stride * w]


def _outputs_and_grads(fn, x, params, grad):
    x = x.detach().requires_grad_(True)
    params = [p.detach().requires_grad_(True) for p in params]
    out = fn(x, *params)
    return [out, *torch.autograd.grad(out, [x, *params], grad)]


@pytest.mark.parametrize("impl", ["gemm", "phases", "native", "auto"])
@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("name", ["deconv", "deconv6"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("size", SIZES)
def test_each_impl_is_the_cropped_full_transposed_convolution(name, scale, impl, bias, size):
    cin, cout, h, w = size
    torch.manual_seed(hash((name, scale, h, w)) % 1000)
    module = build_upsampler(name, cin, cout, scale_factor=scale, impl=impl, bias=bias)
    params = [module.weight] + ([module.bias] if bias else [])
    with torch.no_grad():
        for p in params:
            p.normal_()
    x = torch.randn(2, cin, h, w)
    grad = torch.randn(2, cout, scale * h, scale * w)

    def layer(x, weight, *b):
        return torch.func.functional_call(module, {"weight": weight, "bias": b[0] if b else None}, (x,))

    got = _outputs_and_grads(layer, x, params, grad)
    expected = _outputs_and_grads(
        lambda x, weight, *b: tf_same_oracle(x, weight, *(b or [None]), scale), x, params, grad
    )
    assert got[0].shape == (2, cout, scale * h, scale * w)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["deconv", "deconv6"])
def test_phases_with_a_frozen_weight_or_an_input_without_gradient(name):
    module = build_upsampler(name, 3, 4)
    x = torch.randn(1, 3, 3, 5)
    module.weight.requires_grad_(False)
    module(x.requires_grad_(True)).sum().backward()
    assert module.weight.grad is None and x.grad is not None and module.bias.grad is not None
    module.weight.requires_grad_(True)
    module(x.detach()).sum().backward()
    assert module.weight.grad is not None


@pytest.mark.parametrize("name", ["deconv", "deconv6"])
def test_both_impls_keep_conv_transpose2d_state_dict_and_load_each_other(name):
    phases, native = build_upsampler(name, 3, 4, impl="phases"), build_upsampler(name, 3, 4, impl="native")
    plain = nn.ConvTranspose2d(3, 4, phases.kernel_size, 2)
    assert {k: v.shape for k, v in phases.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
    native.load_state_dict(phases.state_dict())
    x = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(native(x), phases(x), rtol=0, atol=1e-12)


def test_an_unknown_impl_is_a_clear_error():
    with pytest.raises(ValueError, match="impl must be one of auto, gemm, phases, native"):
        build_upsampler("deconv", 2, 2, impl="fast")


def _form_run(module, x):
    """Which form computed ``module(x)``, read from the steps of the autograd graph it left."""
    steps = autograd_steps(module(x))
    forms = {"PhaseDeconv2dBackward": "phases", "Col2ImBackward0": "gemm", "ConvolutionBackward0": "native"}
    (form,) = {forms[step] for step in steps if step in forms}
    return form


def test_auto_is_the_default_and_picks_the_form_by_shape(monkeypatch):
    set_matmul_forms_pay(monkeypatch, True)
    deconv, deconv6 = build_upsampler("deconv", 4, 8), build_upsampler("deconv6", 4, 8)
    assert (deconv.impl, deconv6.impl) == ("auto", "auto")
    x = torch.randn(1, 4, 4, 4, requires_grad=True)
    assert (_form_run(deconv, x), _form_run(deconv6, x)) == ("native", "native")
    monkeypatch.setattr(deconv_module, "PHASES_FROM_OUTPUT_ELEMENTS", 8 * 8 * 8)
    assert _form_run(deconv, x) == "phases" and _form_run(deconv, x[..., :3, :]) == "native"
    assert _form_run(deconv6, x) == "native"  # deconv6's auto never takes the phases
    monkeypatch.setattr(deconv_module, "GEMM_FROM_IN_CHANNELS", 4)
    monkeypatch.setattr(deconv_module, "GEMM_UP_TO_PIXELS", 12)
    assert _form_run(deconv, x[..., :3, :]) == "gemm" and _form_run(deconv6, x[..., :3, :]) == "gemm"
    assert _form_run(deconv6, x) == "native"
    assert _form_run(build_upsampler("deconv6", 4, 8, impl="phases"), x) == "phases"


def test_auto_takes_the_native_form_where_products_do_not_pay(monkeypatch):
    set_matmul_forms_pay(monkeypatch, False)
    monkeypatch.setattr(deconv_module, "GEMM_FROM_IN_CHANNELS", 1)
    monkeypatch.setattr(deconv_module, "GEMM_UP_TO_PIXELS", 10**6)
    monkeypatch.setattr(deconv_module, "PHASES_FROM_OUTPUT_ELEMENTS", 1)
    deconv, deconv6 = build_upsampler("deconv", 4, 8), build_upsampler("deconv6", 4, 8)
    x = torch.randn(1, 4, 4, 4, requires_grad=True)
    assert _form_run(deconv, x) == _form_run(deconv, x[..., :3, :]) == "native"
    assert _form_run(deconv6, x) == _form_run(deconv6, x[..., :3, :]) == "native"


def test_phases_under_autocast_run_the_native_form():
    module = build_upsampler("deconv", 3, 4, impl="phases").float()
    x = torch.randn(1, 3, 4, 4, dtype=torch.float32, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(x)
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16 and x.grad.shape == x.shape
    assert type(out.grad_fn).__name__ != "PhaseDeconv2dBackward"
