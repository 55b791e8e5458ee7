"""Where a deconvolution puts its kernel: ``deconv`` is TensorFlow's ``conv2d_transpose(kernel 3,
stride 2, padding='SAME')`` (the authors' baseline), ``deconv_torch`` PyTorch's convention."""

import pytest
import torch
import torch.nn.functional as F

from pixeldcn.upsamplers import build_upsampler

pytestmark = pytest.mark.usefixtures("float64_default", "single_thread")

PRIMES = torch.tensor([[2.0, 3.0, 5.0], [7.0, 11.0, 13.0], [17.0, 19.0, 23.0]])


def _set(module, weight, bias):
    with torch.no_grad():
        module.weight.copy_(weight)
        module.bias.copy_(bias)
    return module


def test_deconv_by_hand_on_a_2x2_input():
    """TF SAME pads the one extra output after: input (i, j) feeds rows 2i..2i+2, columns 2j..2j+2
    through taps 0..2, so out[r, c] = sum of x[i, j] * w[r - 2i, c - 2j] over the taps in range."""
    x = torch.tensor([[[[1.0, 10.0], [100.0, 1000.0]]]])
    module = _set(build_upsampler("deconv", 1, 1), PRIMES.view(1, 1, 3, 3), torch.tensor([0.5]))
    # w = [[2, 3, 5], [7, 11, 13], [17, 19, 23]]; x00 = 1, x01 = 10, x10 = 100, x11 = 1000.
    expected = torch.tensor(
        [
            [1 * 2, 1 * 3, 1 * 5 + 10 * 2, 10 * 3],
            [1 * 7, 1 * 11, 1 * 13 + 10 * 7, 10 * 11],
            [1 * 17 + 100 * 2, 1 * 19 + 100 * 3, 1 * 23 + 10 * 17 + 100 * 5 + 1000 * 2, 10 * 19 + 1000 * 3],
            [100 * 7, 100 * 11, 100 * 13 + 1000 * 7, 1000 * 11],
        ]
    )
    torch.testing.assert_close(module(x)[0, 0], expected + 0.5, rtol=0, atol=0)
    # The PyTorch convention is the same map shifted one pixel up-left: torch[r, c] == tf[r + 1, c + 1].
    torch_module = _set(build_upsampler("deconv_torch", 1, 1), PRIMES.view(1, 1, 3, 3), torch.tensor([0.5]))
    torch.testing.assert_close(torch_module(x)[0, 0, :3, :3], expected[1:, 1:] + 0.5, rtol=0, atol=0)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (5, 4)])
def test_deconv_is_the_unpadded_transposed_convolution_cropped_at_the_end(size):
    module = build_upsampler("deconv", 3, 4)
    x = torch.randn(2, 3, *size)
    expected = F.conv_transpose2d(x, module.weight, module.bias, stride=2, padding=0)[..., : 2 * size[0], : 2 * size[1]]
    torch.testing.assert_close(module(x), expected, rtol=0, atol=1e-12)
    torch_convention = build_upsampler("deconv_torch", 3, 4)
    torch_convention.load_state_dict(module.state_dict())
    torch.testing.assert_close(torch_convention(x)[..., :-1, :-1], module(x)[..., 1:, 1:], rtol=0, atol=1e-12)


def tf_same(x, weight, bias, stride):
    """TensorFlow's transposed convolution with padding 'SAME' and output size stride * input: of the
    (H - 1) * stride + k full outputs, pad_total = k - stride are dropped, pad_total // 2 before."""
    k = weight.shape[-1]
    before = (k - stride) // 2
    transposed = F.conv_transpose2d if x.dim() == 4 else F.conv_transpose3d
    full = transposed(x, weight, bias, stride=stride)
    return full[(..., *(slice(before, before + stride * s) for s in x.shape[2:]))]


@pytest.mark.parametrize("name", ["deconv", "deconv6", "deconv3d"])
@pytest.mark.parametrize("factor", [2, 4, 8])
def test_deconvolutions_follow_tf_same_at_every_factor(name, factor):
    """deconv6 (k 6, padding 2) already was TF SAME; deconv and deconv3d are now, at 2x, 4x and 8x."""
    module = build_upsampler(name, 2, 3, scale_factor=factor)
    size = (2, 1, 3) if name.endswith("3d") else (3, 2)
    x = torch.randn(1, 2, *size)
    torch.testing.assert_close(module(x), tf_same(x, module.weight, module.bias, factor), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kernel", [2, 3, 4, 5, 6, 7])
def test_any_kernel_size_follows_tf_same(kernel):
    module = build_upsampler("deconv", 2, 2, kernel_size=kernel)
    x = torch.randn(1, 2, 3, 4)
    torch.testing.assert_close(module(x), tf_same(x, module.weight, module.bias, 2), rtol=0, atol=1e-12)


def test_deconv3d_by_its_unpadded_relation_and_the_torch_convention_shift():
    module = build_upsampler("deconv3d", 2, 3)
    x = torch.randn(1, 2, 2, 3, 2)
    expected = F.conv_transpose3d(x, module.weight, module.bias, stride=2)[..., :4, :6, :4]
    torch.testing.assert_close(module(x), expected, rtol=0, atol=1e-12)
    torch_convention = build_upsampler("deconv_torch3d", 2, 3)
    torch_convention.load_state_dict(module.state_dict())
    torch.testing.assert_close(torch_convention(x)[..., :-1, :-1, :-1], module(x)[..., 1:, 1:, 1:], rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "torch_class"), [("deconv", torch.nn.ConvTranspose2d), ("deconv3d", torch.nn.ConvTranspose3d)]
)
def test_state_dicts_stay_those_of_conv_transpose(name, torch_class):
    plain = torch_class(4, 6, 3, stride=2)
    module = build_upsampler(name, 4, 6)
    module.load_state_dict(plain.state_dict())  # strict: weight Cin x Cout x 3 x ..., bias
    assert module.weight.shape == (4, 6, *([3] * (module.weight.dim() - 2)))
