"""The single U-Net: a literal reference of the two former networks, the heads, BatchNorm without
scale, and the size divisor of the configured instance."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pixeldcn.models import UNet, UNet3D
from pixeldcn.models.layers import BatchNorm2dNoScale, BatchNorm3dNoScale
from pixeldcn.upsamplers import build_upsampler

pytestmark = pytest.mark.usefixtures("single_thread")

OPS = {2: (nn.Conv2d, nn.BatchNorm2d, nn.ConvTranspose2d), 3: (nn.Conv3d, nn.BatchNorm3d, nn.ConvTranspose3d)}


def reference_state(num_classes: int, in_channels: int, width: int, depth: int, dims: int) -> dict:
    """The parameters of the former ``UNet`` / ``UNet3D`` (with a 2x2 transposed-conv up-sampler),
    created in the order those classes created them, keyed as they were."""
    conv, norm, up = OPS[dims]
    modules: dict[str, nn.Module] = {}

    def conv_bn_relu(prefix: str, cin: int, cout: int) -> None:
        modules[f"{prefix}.0"] = conv(cin, cout, 3, padding=1, bias=False)
        modules[f"{prefix}.1"] = norm(cout)

    widths = [width * 2**level for level in range(depth)]
    for index, (cin, cout) in enumerate(zip([in_channels, *widths[:-1]], widths)):
        conv_bn_relu(f"encoder.{index}.conv1", cin, cout)
        conv_bn_relu(f"encoder.{index}.conv2", cout, cout)
    conv_bn_relu("bottom.0", widths[-1], 2 * widths[-1])
    conv_bn_relu("bottom.1", 2 * widths[-1], widths[-1])
    for index, channels in enumerate(reversed(widths)):
        modules[f"decoder.{index}.upsample"] = up(channels, channels, 2, stride=2)
        modules[f"decoder.{index}.upsample_norm"] = norm(channels)
        conv_bn_relu(f"decoder.{index}.conv1", 2 * channels, channels)
        if channels == width:
            modules[f"decoder.{index}.conv2"] = conv(channels, num_classes, 3, padding=1)
        else:
            conv_bn_relu(f"decoder.{index}.conv2", channels, channels // 2)
    return {
        f"{prefix}.{key}": value for prefix, module in modules.items() for key, value in module.state_dict().items()
    }


def reference_forward(state: dict, x: torch.Tensor, depth: int, dims: int) -> torch.Tensor:
    """The former networks' forward pass, written out with torch.nn.functional (training mode)."""
    conv = F.conv2d if dims == 2 else F.conv3d
    up = F.conv_transpose2d if dims == 2 else F.conv_transpose3d
    pool = F.max_pool2d if dims == 2 else F.max_pool3d

    def bn(prefix: str, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, None, None, state[f"{prefix}.weight"], state[f"{prefix}.bias"], training=True)

    def cbr(prefix: str, x: torch.Tensor) -> torch.Tensor:
        return F.relu(bn(f"{prefix}.1", conv(x, state[f"{prefix}.0.weight"], padding=1)))

    skips = []
    for index in range(depth):
        x = cbr(f"encoder.{index}.conv2", cbr(f"encoder.{index}.conv1", x))
        skips.append(x)
        x = pool(x, 2)
    x = cbr("bottom.1", cbr("bottom.0", x))
    for index, skip in enumerate(reversed(skips)):
        block = f"decoder.{index}"
        upsampled = up(x, state[f"{block}.upsample.weight"], state[f"{block}.upsample.bias"], stride=2)
        x = cbr(f"{block}.conv1", torch.cat([F.relu(bn(f"{block}.upsample_norm", upsampled)), skip], dim=1))
        if index == depth - 1:
            x = conv(x, state[f"{block}.conv2.weight"], state[f"{block}.conv2.bias"], padding=1)
        else:
            x = cbr(f"{block}.conv2", x)
    return x


def transposed(dims: int):
    return lambda cin, cout: OPS[dims][2](cin, cout, 2, stride=2)


@pytest.mark.parametrize(
    ("model_class", "dims", "in_channels", "depth", "shape"),
    [(UNet, 2, 3, 4, (2, 3, 32, 48)), (UNet, 2, 1, 2, (2, 1, 8, 12)), (UNet3D, 3, 1, 2, (2, 1, 8, 4, 12))],
)
def test_the_merged_unet_is_the_former_network_for_a_seed(model_class, dims, in_channels, depth, shape):
    torch.manual_seed(3)
    expected = reference_state(4, in_channels, 3, depth, dims)
    torch.manual_seed(3)
    model = model_class(num_classes=4, upsampler=transposed(dims), in_channels=in_channels, width=3, depth=depth)
    state = model.state_dict()
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value), key
    x = torch.randn(shape, dtype=torch.float64)
    torch.testing.assert_close(model.double()(x), reference_forward(model.state_dict(), x, depth, dims))


def test_heads_have_the_authors_structures():
    nearest = lambda c, o: nn.Upsample(scale_factor=2)  # noqa: E731
    heads = {
        head: UNet(3, nearest, width=2, head=head).decoder[-1].conv2 for head in ("conv", "conv_bn", "conv_bn_relu")
    }
    assert type(heads["conv"]) is nn.Conv2d and heads["conv"].bias is not None
    assert [type(m) for m in heads["conv_bn"]] == [nn.Conv2d, nn.BatchNorm2d]
    assert [type(m) for m in heads["conv_bn_relu"]] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    for head in ("conv_bn", "conv_bn_relu"):
        assert heads[head][0].bias is None and heads[head][0].out_channels == 3 and heads[head][1].num_features == 3
        assert heads[head][0].kernel_size == (3, 3)


def test_heads_change_only_the_class_layer_and_bound_the_scores_as_their_layers_do():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 16, 16)
    scores = {}
    for head in ("conv", "conv_bn", "conv_bn_relu"):
        torch.manual_seed(1)
        model = UNet(3, transposed(2), width=2, head=head)
        scores[head] = model(x)
        others = {k: v for k, v in model.state_dict().items() if not k.startswith("decoder.3.conv2")}
        if head == "conv":
            reference = others
        assert all(torch.equal(value, reference[key]) for key, value in others.items())
    assert (scores["conv"] < 0).any()
    # BN in training mode: each class channel has batch mean 0 and (biased) variance ~1.
    per_class = scores["conv_bn"].transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(per_class.mean(1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(per_class.var(1, unbiased=False), torch.ones(3), atol=1e-3, rtol=0)
    torch.testing.assert_close(scores["conv_bn_relu"], scores["conv_bn"].clamp(min=0))


def test_an_unknown_head_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown head 'bn'; valid heads: conv, conv_bn, conv_bn_relu"):
        UNet(3, transposed(2), width=2, head="bn")


@pytest.mark.parametrize(
    ("model_class", "dims", "norm_class"), [(UNet, 2, BatchNorm2dNoScale), (UNet3D, 3, BatchNorm3dNoScale)]
)
def test_bn_scale_false_leaves_every_batchnorm_a_shift_and_no_scale(model_class, dims, norm_class):
    make = functools.partial(model_class, 3, transposed(dims), width=2, depth=2, head="conv_bn_relu")
    scaled, unscaled = make(), make(bn_scale=False)
    norms = [m for m in unscaled.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(type(m) is norm_class for m in norms)
    assert all(m.weight is None and isinstance(m.bias, nn.Parameter) for m in norms)
    assert not any(name.endswith(".weight") and "norm" in name for name, _ in unscaled.named_parameters())
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(scaled) - count(unscaled) == sum(m.num_features for m in norms)
    assert {k for k in scaled.state_dict()} - {k for k in unscaled.state_dict()} == {
        f"{name}.weight" for name, m in unscaled.named_modules() if m in norms
    }


def test_batchnorm_without_scale_is_the_normalised_input_plus_a_learnt_shift():
    torch.manual_seed(0)
    norm = BatchNorm2dNoScale(3)
    assert [name for name, _ in norm.named_parameters()] == ["bias"] and torch.equal(norm.bias, torch.zeros(3))
    with torch.no_grad():
        norm.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    norm.double()
    mean = x.mean((0, 2, 3), keepdim=True)
    variance = ((x - mean) ** 2).mean((0, 2, 3), keepdim=True)
    expected = (x - mean) / torch.sqrt(variance + 1e-5) + torch.tensor([0.5, -1.0, 2.0]).view(1, 3, 1, 1)
    out = norm(x)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert norm.bias.grad is not None
    # Running statistics update as PyTorch's BatchNorm does (momentum 0.1, unbiased variance).
    torch.testing.assert_close(norm.running_mean, 0.9 * torch.zeros(3, dtype=torch.float64) + 0.1 * mean.flatten())
    norm.reset_parameters()
    assert torch.equal(norm.bias, torch.zeros(3, dtype=torch.float64)) and torch.equal(
        norm.running_var, torch.ones(3).double()
    )


def test_bn_scale_false_with_a_custom_norm_layer_is_refused():
    with pytest.raises(ValueError, match="bn_scale=False configures the default BatchNorm"):
        UNet(3, transposed(2), width=2, bn_scale=False, norm_layer=nn.InstanceNorm2d)


def test_a_custom_norm_layer_replaces_every_batchnorm():
    model = UNet(3, transposed(2), width=2, depth=2, norm_layer=functools.partial(nn.GroupNorm, 1))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    # encoder 2 x 2, bottom 2, decoder 3 + 2 (the class layer has none)
    assert sum(isinstance(m, nn.GroupNorm) for m in model.modules()) == 4 + 2 + 3 + 2


@pytest.mark.parametrize(("depth", "divisor"), [(1, 2), (2, 4), (4, 16)])
def test_the_instance_says_its_size_divisor(depth, divisor):
    assert UNet(2, transposed(2), width=2, depth=depth).size_divisor == divisor
    assert UNet3D(2, transposed(3), width=2, depth=depth).size_divisor == divisor


def test_unet3d_of_depth_2_runs_on_12_cubed_volumes():
    # 12 is not a multiple of 16 (the default depth's divisor) but is of 4 = 2^2.
    model = UNet3D(num_classes=2, upsampler=functools.partial(build_upsampler, "pixeldcl3d"), width=2, depth=2)
    assert model.size_divisor == 4 and model(torch.rand(1, 1, 12, 12, 12)).shape == (1, 2, 12, 12, 12)
    with pytest.raises(ValueError, match=r"UNet3D input size 12x12x10 is not divisible by 4"):
        model(torch.rand(1, 1, 12, 12, 10))
