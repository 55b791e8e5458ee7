import functools
import logging
import re

import pytest
import torch
import torchvision
from torch import nn

from pixeldcn.models import DeepLabResNet, PretrainedWeightsError
from pixeldcn.models.deeplab import dilate_resnet_layer
from pixeldcn.upsamplers import build_upsampler

from .factories import REGISTERED_NAMES, resize_conv, transposed_conv


def small_model(**kwargs) -> DeepLabResNet:
    options = {"num_classes": 5, "upsampler": transposed_conv, "depth": 18, "decoder_channels": 32}
    return DeepLabResNet(**(options | kwargs))


def state_tensors_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("factory", [transposed_conv, resize_conv], ids=["deconv", "resize"])
def test_depth18_gives_full_resolution_scores(factory):
    model = small_model(upsampler=factory)
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 5, 64, 64)
    assert model(torch.rand(2, 3, 16, 24)).shape == (2, 5, 16, 24)


def test_aspp_v3_head_gives_full_resolution_scores():
    model = small_model(head="aspp_v3")
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 5, 64, 64)


def test_backbone_has_output_stride_8():
    model = small_model()
    assert model.backbone(torch.rand(1, 3, 64, 64)).shape == (1, 512, 8, 8)


def test_default_head_is_deeplab_v2_aspp():
    model = small_model()
    branches = model.head.branches
    assert [conv.dilation for conv in branches] == [(6, 6), (12, 12), (18, 18), (24, 24)]
    assert all(conv.in_channels == 512 and conv.out_channels == 32 for conv in branches)
    x = torch.rand(1, 512, 8, 8)
    torch.testing.assert_close(model.head(x), sum(conv(x) for conv in branches))


def test_decoder_halves_channels_after_each_upsampling():
    calls = []

    def recording(cin, cout):
        calls.append((cin, cout))
        return transposed_conv(cin, cout)

    model = small_model(upsampler=recording, decoder_channels=64)
    assert calls == [(64, 64), (32, 32), (16, 16)]
    assert [block.conv[0].out_channels for block in model.decoder] == [32, 16, 8]
    assert (model.classifier.in_channels, model.classifier.kernel_size) == (8, (1, 1))


def test_dilation_of_basic_blocks_follows_torchvision_rule_for_bottlenecks():
    ours = torchvision.models.resnet50(weights=None)
    dilate_resnet_layer(ours.layer3, dilation=2, previous_dilation=1)
    dilate_resnet_layer(ours.layer4, dilation=4, previous_dilation=2)
    reference = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=[False, True, True])

    def geometry(net):
        return [(n, m.stride, m.dilation, m.padding) for n, m in net.named_modules() if isinstance(m, nn.Conv2d)]

    assert geometry(ours) == geometry(reference)


def test_resnet18_dilations():
    model = small_model()
    layer3, layer4 = model.backbone.layer3, model.backbone.layer4
    assert [(b.conv1.dilation, b.conv2.dilation) for b in layer3] == [((1, 1), (1, 1)), ((2, 2), (2, 2))]
    assert [(b.conv1.dilation, b.conv2.dilation) for b in layer4] == [((2, 2), (2, 2)), ((4, 4), (4, 4))]
    assert layer3[0].conv1.stride == layer3[0].downsample[0].stride == (1, 1)


@pytest.mark.slow
def test_resnet101_runs_a_forward_pass():
    model = DeepLabResNet(num_classes=21, upsampler=transposed_conv, depth=101).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 64))
    assert out.shape == (1, 21, 64, 64)
    assert torch.isfinite(out).all()
    assert sum(p.numel() for p in model.backbone.parameters()) == 42_500_160  # torchvision resnet101 minus fc


def test_input_is_normalised_with_imagenet_statistics():
    model = small_model().eval()
    seen = []
    model.backbone.conv1.register_forward_pre_hook(lambda m, i: seen.append(i[0]))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        model(mean.expand(1, 3, 16, 16))
        model((mean + std).expand(1, 3, 16, 16))
    torch.testing.assert_close(seen[0], torch.zeros(1, 3, 16, 16))
    torch.testing.assert_close(seen[1], torch.ones(1, 3, 16, 16))
    assert "mean" not in model.state_dict()


def test_random_init_logs_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="pixeldcn.models.deeplab"):
        small_model()
    assert "randomly initialised" in caplog.text


def test_torchvision_state_dict_is_loaded_into_backbone(tmp_path, caplog):
    reference = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        for name, buffer in reference.named_buffers():
            if "running" in name:
                buffer.uniform_(0.5, 1.5)
    path = tmp_path / "resnet18.pth"
    saved = reference.state_dict()
    torch.save(saved, path)

    random_model = small_model()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        model = small_model(pretrained=str(path))
    assert "randomly initialised" not in caplog.text
    loaded = model.backbone.state_dict()
    assert loaded.keys() == {k for k in saved if not k.startswith("fc.")}
    for key, tensor in loaded.items():
        assert torch.equal(tensor, saved[key]), key
    assert not torch.equal(random_model.backbone.conv1.weight, saved["conv1.weight"])


@pytest.mark.parametrize("wrap", [True, False], ids=["training-checkpoint", "bare-state-dict"])
def test_model_checkpoint_round_trips(tmp_path, wrap):
    original = small_model(upsampler=resize_conv)
    original(torch.rand(2, 3, 32, 32))  # a training-mode pass moves every running statistic
    state = original.state_dict()
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": state, "epoch": 3, "step": 120} if wrap else state, path)

    restored = small_model(upsampler=resize_conv, pretrained=path)
    assert state_tensors_equal(restored.state_dict(), state)


def test_wrong_depth_lists_the_unexpected_keys(tmp_path):
    resnet34 = torchvision.models.resnet34(weights=None).state_dict()
    path = tmp_path / "resnet34.pth"
    torch.save(resnet34, path)
    resnet18_keys = torchvision.models.resnet18(weights=None).state_dict().keys()
    extra = sorted(k for k in resnet34.keys() - resnet18_keys)
    assert len(extra) > 5

    with pytest.raises(PretrainedWeightsError) as caught:
        small_model(pretrained=path)
    message = str(caught.value)
    assert str(path) in message
    assert f"0 missing, {len(extra)} unexpected and 0 shape-mismatched keys" in message
    listed = [key for key in extra if key in message]
    assert 1 <= len(listed) <= 5
    assert "\n" not in message


def test_unrelated_dict_lists_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(3), "decoder.weight": torch.zeros(3)}, path)
    expected_keys = [k for k in small_model().backbone.state_dict() if not k.endswith("num_batches_tracked")]

    with pytest.raises(PretrainedWeightsError, match=rf"{len(expected_keys)} missing, 2 unexpected") as caught:
        small_model(pretrained=path)
    examples = re.search(r"\(e\.g\. (.*)\)", str(caught.value)).group(1).split(", ")
    assert examples[:3] == ["missing conv1.weight", "unexpected encoder.weight", "missing bn1.weight"]
    assert len(examples) == 5


def test_checkpoint_of_another_configuration_reports_shapes(tmp_path):
    path = tmp_path / "five_classes.pt"
    torch.save({"model": small_model(num_classes=5).state_dict()}, path)
    with pytest.raises(PretrainedWeightsError, match=r"classifier.weight \(5, 4, 1, 1\) vs \(21, 4, 1, 1\)"):
        small_model(num_classes=21, pretrained=path)


def test_unreadable_file_raises_the_same_error_in_one_line(tmp_path):
    path = tmp_path / "corrupt.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedWeightsError, match="corrupt.pth") as caught:
        small_model(pretrained=path)
    assert "\n" not in str(caught.value)


def test_file_without_a_state_dict_is_rejected(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(PretrainedWeightsError, match="tensor.pt does not hold a state dict"):
        small_model(pretrained=path)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "absent.pth"
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        small_model(pretrained=str(path))


def _backbone_bn_stats(model):
    return {k: v.clone() for k, v in model.backbone.state_dict().items() if "running" in k or "num_batches" in k}


def test_freeze_bn_keeps_backbone_statistics_in_training_mode():
    model = small_model(freeze_bn=True)
    model.train()
    before = _backbone_bn_stats(model)
    decoder_before = model.decoder[0].upsample_norm.running_mean.clone()
    model(torch.rand(2, 3, 32, 32) * 3)

    assert state_tensors_equal(_backbone_bn_stats(model), before)
    assert not torch.equal(model.decoder[0].upsample_norm.running_mean, decoder_before)
    norms = [m for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(not m.training and not m.weight.requires_grad and not m.bias.requires_grad for m in norms)
    assert model.training and model.decoder.training
    assert model.backbone.conv1.weight.requires_grad


def test_without_freeze_bn_backbone_statistics_move():
    model = small_model()
    before = _backbone_bn_stats(model)
    model(torch.rand(2, 3, 32, 32))
    assert not torch.equal(_backbone_bn_stats(model)["bn1.running_mean"], before["bn1.running_mean"])


@pytest.mark.parametrize("freeze_bn", [False, True])
def test_param_groups_partition_trainable_parameters(freeze_bn):
    model = small_model(freeze_bn=freeze_bn)
    groups = model.param_groups(lr=0.01, backbone_lr_mult=0.1)
    assert [g["lr"] for g in groups] == pytest.approx([0.001, 0.01])
    ids = [[id(p) for p in g["params"]] for g in groups]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert len(ids[0]) + len(ids[1]) == len(trainable)
    assert set(ids[0]) | set(ids[1]) == trainable
    assert set(ids[0]) == {id(p) for p in model.backbone.parameters() if p.requires_grad}
    assert id(model.classifier.weight) in ids[1] and id(model.head.branches[0].weight) in ids[1]
    torch.optim.SGD(groups, lr=0.01, momentum=0.9)


@pytest.mark.parametrize("size", [(60, 64), (64, 36)])
def test_size_not_divisible_by_8_is_rejected(size):
    with pytest.raises(ValueError, match=rf"{size[0]}x{size[1]}.*divisible by 8"):
        small_model()(torch.rand(1, 3, *size))


def test_unknown_depth_and_head_are_rejected():
    with pytest.raises(ValueError, match="depth must be one of"):
        small_model(depth=42)
    with pytest.raises(ValueError, match="head must be one of"):
        small_model(head="fcn")


@pytest.mark.parametrize("name", REGISTERED_NAMES)
def test_every_registered_upsampler_gives_full_resolution_scores(name):
    model = small_model(upsampler=functools.partial(build_upsampler, name))
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 5, 32, 32)
