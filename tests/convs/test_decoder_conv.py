"""UNet(decoder_conv=PixelCL): the decoder's 3x3 convolutions become pixel convolutional layers."""

import pytest
import torch
from conftest import composed
from hydra.errors import MissingConfigException
from hydra.utils import instantiate
from torch import nn

from pixeldcn.convs import PixelCL, conv3x3
from pixeldcn.models import UNet

pytestmark = pytest.mark.usefixtures("single_thread")


def deconv(cin: int, cout: int) -> nn.Module:
    return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)


def test_pixelcl_replaces_every_decoder_convolution_but_the_class_layer():
    model = UNet(num_classes=5, upsampler=deconv, width=4, decoder_conv=PixelCL)
    for index, block in enumerate(model.decoder):
        assert isinstance(block.conv1[0], PixelCL) and isinstance(block.conv1[1], nn.BatchNorm2d)
        assert all(conv.bias is None for conv in block.conv1[0].phase_convs)  # BN follows
        if index < 3:
            assert isinstance(block.conv2[0], PixelCL)
    assert type(model.decoder[-1].conv2) is nn.Conv2d and model.decoder[-1].conv2.bias is not None
    assert not any(isinstance(m, PixelCL) for m in [*model.encoder.modules(), *model.bottom.modules()])
    assert sum(isinstance(m, PixelCL) for m in model.modules()) == 7


def test_parameter_count_grows_by_the_pixelcl_formula():
    w, classes = 4, 5
    plain = UNet(num_classes=classes, upsampler=deconv, width=w)
    pixel = UNet(num_classes=classes, upsampler=deconv, width=w, decoder_conv=PixelCL)
    # Each decoder convolution cin -> cout: 9*cin*cout as a plain conv without bias; as PixelCL
    # 4*9*cin*cout + 27*cout^2 stored dependency weights (16*cout^2 of them live).
    convs = [(16 * w, 8 * w), (8 * w, 4 * w), (8 * w, 4 * w), (4 * w, 2 * w), (4 * w, 2 * w), (2 * w, w), (2 * w, w)]
    extra = sum(3 * 9 * cin * cout + 27 * cout**2 for cin, cout in convs)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(pixel) - count(plain) == extra


def test_pixelcl_unet_gives_full_resolution_scores_and_trains():
    torch.manual_seed(0)
    model = UNet(num_classes=3, upsampler=deconv, width=4, decoder_conv=PixelCL)
    images, target = torch.rand(2, 3, 32, 32), torch.randint(0, 3, (2, 32, 32))
    scores = model(images)
    assert scores.shape == (2, 3, 32, 32)
    nn.functional.cross_entropy(scores, target).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_default_is_the_papers_network():
    torch.manual_seed(0)
    default = UNet(num_classes=3, upsampler=deconv, width=2)
    torch.manual_seed(0)
    explicit = UNet(num_classes=3, upsampler=deconv, width=2, decoder_conv=conv3x3)
    assert default.state_dict().keys() == explicit.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(), explicit.state_dict().values()))
    assert not any(isinstance(m, PixelCL) for m in default.modules())


def test_unknown_decoder_conv_is_rejected():
    # The model takes a factory; names live in the model/decoder_conv config group.
    with pytest.raises(MissingConfigException, match=r"model/decoder_conv.*pixcl[\s\S]*conv[\s\S]*pixelcl"):
        with composed("model/decoder_conv=pixcl"):
            pass


def test_the_pixelcl_option_builds_pixelcl_decoder_convolutions():
    with composed("debug=smoke", "model/decoder_conv=pixelcl") as cfg:
        model = instantiate(cfg.model, num_classes=3, upsampler=deconv)
    assert sum(isinstance(m, PixelCL) for m in model.modules()) == 7
