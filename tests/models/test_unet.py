import functools

import pytest
import torch
from torch import nn

from pixeldcn.models import UNet
from pixeldcn.upsamplers import build_upsampler

from .factories import REGISTERED_NAMES, resize_conv, transposed_conv


def nearest(cin: int, cout: int) -> nn.Module:
    assert cin == cout
    return nn.Upsample(scale_factor=2)


@pytest.mark.parametrize("factory", [transposed_conv, resize_conv], ids=["deconv", "resize"])
@pytest.mark.parametrize("size", [(32, 32), (16, 48)])
def test_output_has_class_channels_at_input_resolution(factory, size):
    model = UNet(num_classes=5, upsampler=factory, width=4)
    out = model(torch.rand(2, 3, *size))
    assert out.shape == (2, 5, *size)


def test_single_channel_input():
    model = UNet(num_classes=3, upsampler=nearest, in_channels=1, width=2)
    assert model(torch.rand(2, 1, 16, 16)).shape == (2, 3, 16, 16)


def _conv_channels(block: nn.Module) -> tuple[int, int]:
    conv = block[0] if isinstance(block, nn.Sequential) else block
    return conv.in_channels, conv.out_channels


def test_channel_plan_of_the_paper_width():
    model = UNet(num_classes=21, upsampler=nearest, width=64)
    assert [(_conv_channels(b.conv1), _conv_channels(b.conv2)) for b in model.encoder] == [
        ((3, 64), (64, 64)),
        ((64, 128), (128, 128)),
        ((128, 256), (256, 256)),
        ((256, 512), (512, 512)),
    ]
    assert [_conv_channels(layer) for layer in model.bottom] == [(512, 1024), (1024, 512)]
    # (up-sampled channels, concatenated channels, first conv out, second conv out)
    plan = [(b.upsample_norm.num_features, *_conv_channels(b.conv1), _conv_channels(b.conv2)[1]) for b in model.decoder]
    assert plan == [(512, 1024, 512, 256), (256, 512, 256, 128), (128, 256, 128, 64), (64, 128, 64, 21)]


def test_class_layer_is_a_biased_conv_without_norm_or_activation():
    torch.manual_seed(0)
    model = UNet(num_classes=4, upsampler=nearest, width=2)
    final = model.decoder[-1].conv2
    assert isinstance(final, nn.Conv2d) and final.bias is not None and final.kernel_size == (3, 3)
    hidden = model.decoder[0].conv2
    assert [type(m) for m in hidden] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert hidden[0].bias is None
    # Negative scores survive: a ReLU on the logits would make every output >= 0.
    assert (model(torch.randn(2, 3, 16, 16)) < 0).any()


def test_factory_called_four_times_with_equal_channel_pairs():
    calls = []

    def recording(cin, cout):
        calls.append((cin, cout))
        return transposed_conv(cin, cout)

    UNet(num_classes=3, upsampler=recording, width=6)
    assert calls == [(48, 48), (24, 24), (12, 12), (6, 6)]


def test_decoder_concatenates_upsampled_map_before_skip():
    model = UNet(num_classes=3, upsampler=transposed_conv, width=4)
    seen = {}
    block = model.decoder[1]
    block.upsample_relu.register_forward_hook(lambda m, i, o: seen.__setitem__("up", o.clone()))
    block.conv1.register_forward_pre_hook(lambda m, i: seen.__setitem__("cat", i[0].clone()))
    model.encoder[2].conv2.register_forward_hook(lambda m, i, o: seen.__setitem__("skip", o.clone()))
    model(torch.rand(2, 3, 32, 32))
    channels = seen["up"].shape[1]
    torch.testing.assert_close(seen["cat"][:, :channels], seen["up"])
    torch.testing.assert_close(seen["cat"][:, channels:], seen["skip"])


@pytest.mark.parametrize("width", [2, 4, 8])
def test_parameter_count_matches_hand_derived_formula(width):
    classes = 5

    def deconv2x2(cin, cout):
        return nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False)

    model = UNet(num_classes=classes, upsampler=deconv2x2, width=width)
    w = width
    # 3x3 conv weights (9 * cin * cout; no bias where BN follows):
    #   encoder  3w + (1 + 2 + 4 + 8 + 16 + 32 + 64) w^2, bottom (128 + 128) w^2,
    #   decoder  (128 + 32) + (32 + 8) + (8 + 2) + 2 w^2, plus w * classes for the class layer.
    conv_weights = 9 * (3 * w + 127 * w**2 + 256 * w**2 + 212 * w**2 + w * classes)
    # BN weight + bias: encoder 2 * 30w, bottom 2 * 24w, after up-sampling 2 * 15w,
    # decoder first convs 2 * 15w, decoder second convs except the last 2 * 7w.
    norm = 2 * (30 + 24 + 15 + 15 + 7) * w
    upsamplers = 4 * (64 + 16 + 4 + 1) * w**2
    class_bias = classes
    expected = conv_weights + norm + upsamplers + class_bias
    assert expected == 5695 * w**2 + (209 + 9 * classes) * w + classes
    assert sum(p.numel() for p in model.parameters()) == expected


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    model = UNet(num_classes=3, upsampler=transposed_conv, width=4)
    target = torch.randint(0, 3, (2, 32, 32))
    loss = nn.functional.cross_entropy(model(torch.rand(2, 3, 32, 32)), target)
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("size", [(24, 32), (32, 40), (8, 8)])
def test_size_not_divisible_by_16_is_rejected(size):
    model = UNet(num_classes=3, upsampler=nearest, width=2)
    with pytest.raises(ValueError, match=rf"{size[0]}x{size[1]}.*divisible by 16"):
        model(torch.rand(1, 3, *size))


@pytest.mark.parametrize("name", REGISTERED_NAMES)
def test_every_registered_upsampler_gives_full_resolution_scores(name):
    model = UNet(num_classes=5, upsampler=functools.partial(build_upsampler, name), width=4)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 5, 32, 32)
