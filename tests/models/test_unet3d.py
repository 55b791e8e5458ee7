"""UNet3D: UNet's plan in 3D, its checks, and the unet3d x synthetic_volumes configuration."""

import functools
import json

import pytest
import torch
from conftest import QUIET_SMOKE, composed
from torch import nn

import pixeldcn.build as build
import pixeldcn.run as run
from pixeldcn.models import UNet, UNet3D
from pixeldcn.upsamplers import UPSAMPLERS_3D, build_upsampler
from pixeldcn.upsamplers.pixel_dcl3d import PixelDCL3D

pytestmark = pytest.mark.usefixtures("single_thread")


def deconv3d(cin: int, cout: int) -> nn.Module:
    return nn.ConvTranspose3d(cin, cout, 2, stride=2)


def _conv_channels(block: nn.Module) -> tuple[int, int]:
    conv = block[0] if isinstance(block, nn.Sequential) else block
    return conv.in_channels, conv.out_channels


def _plan(model: nn.Module) -> tuple[list, list, list]:
    encoder = [(_conv_channels(b.conv1), _conv_channels(b.conv2)) for b in model.encoder]
    bottom = [_conv_channels(layer) for layer in model.bottom]
    decoder = [
        (b.upsample_norm.num_features, *_conv_channels(b.conv1), _conv_channels(b.conv2)[1]) for b in model.decoder
    ]
    return encoder, bottom, decoder


@pytest.mark.parametrize("name", sorted(UPSAMPLERS_3D))
def test_every_3d_upsampler_gives_full_resolution_scores(name):
    model = UNet3D(num_classes=3, upsampler=functools.partial(build_upsampler, name), width=2, depth=2)
    assert model(torch.rand(2, 1, 4, 8, 12)).shape == (2, 3, 4, 8, 12)


def test_channel_plan_at_depth_3():
    model = UNet3D(num_classes=5, upsampler=deconv3d, in_channels=2, width=4, depth=3)
    encoder, bottom, decoder = _plan(model)
    assert encoder == [((2, 4), (4, 4)), ((4, 8), (8, 8)), ((8, 16), (16, 16))]
    assert bottom == [(16, 32), (32, 16)]
    assert decoder == [(16, 32, 16, 8), (8, 16, 8, 4), (4, 8, 4, 5)]
    assert not any(isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)) for m in model.modules())
    assert sum(isinstance(m, nn.MaxPool3d) for m in model.modules()) == 3


def test_depth_4_is_unets_plan():
    volumetric = UNet3D(num_classes=21, upsampler=deconv3d, in_channels=3, width=8, depth=4)
    flat = UNet(num_classes=21, upsampler=lambda c, o: nn.ConvTranspose2d(c, o, 2, stride=2), width=8)
    assert _plan(volumetric) == _plan(flat)


def test_factory_called_once_per_level_with_equal_channel_pairs():
    calls = []

    def recording(cin, cout):
        calls.append((cin, cout))
        return deconv3d(cin, cout)

    UNet3D(num_classes=2, upsampler=recording, width=3, depth=3)
    assert calls == [(12, 12), (6, 6), (3, 3)]


def test_class_layer_is_biased_and_scores_are_unbounded():
    torch.manual_seed(0)
    model = UNet3D(num_classes=4, upsampler=deconv3d, width=2, depth=1)
    final = model.decoder[-1].conv2
    assert isinstance(final, nn.Conv3d) and final.bias is not None
    assert (model(torch.randn(1, 1, 4, 4, 4)) < 0).any()


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    model = UNet3D(num_classes=3, upsampler=functools.partial(build_upsampler, "pixeldcl3d"), width=2, depth=2)
    loss = nn.functional.cross_entropy(model(torch.rand(2, 1, 8, 8, 4)), torch.randint(0, 3, (2, 8, 8, 4)))
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_size_divisor_follows_depth():
    assert UNet3D(num_classes=2, upsampler=deconv3d, width=2).size_divisor == 16
    model = UNet3D(num_classes=2, upsampler=deconv3d, width=2, depth=2)
    assert model.size_divisor == 4
    with pytest.raises(ValueError, match=r"input size 4x6x8 is not divisible by 4 \(the encoder pools 2 times"):
        model(torch.rand(1, 1, 4, 6, 8))
    with pytest.raises(ValueError, match=r"N x C x D x H x W volumes, got a tensor of shape \(1, 1, 8, 8\)"):
        model(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="depth must be at least 1, got 0"):
        UNet3D(num_classes=2, upsampler=deconv3d, depth=0)


def test_the_3d_configuration_composes_builds_and_trains_a_step():
    overrides = ["debug=smoke", "model=unet3d", "dataset=synthetic_volumes", "upsampler=pixeldcl3d"]
    with composed(*overrides) as cfg:
        run.validate(cfg)
        data = build.build_dataset(cfg, "train")
        task = build.build_task(cfg, data)
        model = build.build_model(cfg, task, data)
    assert isinstance(model, UNet3D) and model.size_divisor == 4
    assert sum(isinstance(m, PixelDCL3D) for m in model.modules()) == 2
    volumes, masks = zip(*(data[i] for i in range(2)))
    batch = torch.stack(volumes), torch.stack(masks)
    assert batch[0].shape == (2, 1, 32, 32, 32)
    loss, logs = task.loss(model, batch)
    loss.backward()
    assert torch.isfinite(loss) and 0.0 <= logs["pixel_acc"] <= 1.0


def test_the_3d_smoke_run_completes(run_train, tmp_path):
    run_dir = run_train(
        tmp_path / "run", *QUIET_SMOKE, "model=unet3d", "dataset=synthetic_volumes", "upsampler=pixeldcl3d"
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["run"]["model"] == "unet3d" and metrics["run"]["upsampler"] == "pixeldcl3d"
    assert (run_dir / "images" / "segmentation.png").is_file()
