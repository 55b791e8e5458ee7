"""DeepLab-ResNet with a learned up-sampling decoder (paper Section 3.1, fine-tuning).

The paper fine-tunes "DeepLab-ResNet" (DeepLab-v2, Chen et al. 2016, on ResNet-101), whose
output is 8 times smaller than the input, and appends three up-sampling blocks, each an
up-sampling layer followed by a convolution, to return to full resolution. This module builds:

1. ImageNet normalisation of the ``[0, 1]`` input (constant buffers, not saved in state dicts),
   because torchvision's ImageNet weights expect normalised inputs;
2. a torchvision ResNet-{18, 34, 50, 101} backbone at output stride 8: the strides of
   ``layer3`` and ``layer4`` are replaced by dilation 2 and 4 (see ``resnet_backbone``);
3. an atrous spatial pyramid pooling head producing ``decoder_channels`` feature maps (not class
   scores, since the up-sampling blocks follow);
4. three up-sampling blocks, each: up-sampler ``C -> C`` + BN + ReLU, then a 3x3 convolution
   ``C -> C/2`` + BN + ReLU. Halving the channels at every doubling, as U-Net's decoder does,
   keeps the full-resolution block affordable: with ``decoder_channels=256`` the blocks run at
   ``256 -> 128``, ``128 -> 64`` and ``64 -> 32`` channels;
5. a 1x1 convolution to ``num_classes`` scores at full resolution.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import torch
from torch import nn
from torchvision.models import resnet18, resnet34, resnet50, resnet101
from torchvision.models.segmentation.deeplabv3 import ASPP

from pixeldcn.models.layers import UpsamplerFactory, conv_norm_relu, same_conv

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OUTPUT_STRIDE = 8
_RESNET_BUILDERS: dict[int, Callable[..., nn.Module]] = {18: resnet18, 34: resnet34, 50: resnet50, 101: resnet101}
_BASIC_BLOCK_DEPTHS = (18, 34)
_BACKBONE_CHANNELS = {18: 512, 34: 512, 50: 2048, 101: 2048}
_BACKBONE_LAYERS = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
_DEFAULT_ASPP_RATES = {"aspp_v2": (6, 12, 18, 24), "aspp_v3": (12, 24, 36)}
_MAX_LISTED_KEYS = 5


class PretrainedWeightsError(ValueError):
    """A pretrained-weights file cannot be read or does not fit the model it is loaded into."""


def dilate_resnet_layer(layer: nn.Sequential, dilation: int, previous_dilation: int) -> None:
    """Replace the stride of a ResNet stage by dilation, in place.

    Follows the rule torchvision's ``replace_stride_with_dilation`` applies to Bottleneck stages:
    every convolution of the stage gets stride 1; the 3x3 convolutions of the first block keep
    ``previous_dilation`` (the dilation the stage's input was computed with) and those of the
    later blocks get ``dilation``, with padding equal to the dilation so sizes are kept.
    torchvision refuses dilation for BasicBlock (ResNet-18/34); this function applies the same
    rule to both 3x3 convolutions of each BasicBlock, and reproduces torchvision's own result
    on Bottleneck stages.
    """
    for block_index, block in enumerate(layer):
        block_dilation = previous_dilation if block_index == 0 else dilation
        for module in block.modules():
            if not isinstance(module, nn.Conv2d):
                continue
            module.stride = (1, 1)
            if module.kernel_size == (3, 3):
                module.dilation = (block_dilation, block_dilation)
                module.padding = (block_dilation, block_dilation)
        block.stride = 1


def resnet_backbone(depth: int) -> nn.Sequential:
    """A randomly initialised torchvision ResNet without pooling/fc, at output stride 8.

    Children are named as in torchvision (``conv1``, ``bn1``, ..., ``layer4``) so a torchvision
    ResNet state dict, minus its ``fc`` entries, loads into it unchanged. ``layer3`` runs at
    dilation 2 and ``layer4`` at dilation 4: through torchvision's ``replace_stride_with_dilation``
    for ResNet-50/101, and through ``dilate_resnet_layer`` for ResNet-18/34.
    """
    if depth not in _RESNET_BUILDERS:
        raise ValueError(f"DeepLabResNet depth must be one of {sorted(_RESNET_BUILDERS)}, got {depth}")
    if depth in _BASIC_BLOCK_DEPTHS:
        resnet = _RESNET_BUILDERS[depth](weights=None)
        dilate_resnet_layer(resnet.layer3, dilation=2, previous_dilation=1)
        dilate_resnet_layer(resnet.layer4, dilation=4, previous_dilation=2)
    else:
        resnet = _RESNET_BUILDERS[depth](weights=None, replace_stride_with_dilation=[False, True, True])
    return nn.Sequential(OrderedDict((name, getattr(resnet, name)) for name in _BACKBONE_LAYERS))


class ASPPv2(nn.Module):
    """DeepLab-v2's atrous spatial pyramid pooling: parallel dilated 3x3 convolutions, summed.

    Each branch is one biased 3x3 convolution with dilation ``rate`` (DeepLab-v2's ResNet-101
    head, ``fc1_voc12_c0..c3``); the branch outputs are added, with no normalisation or
    activation, exactly as in DeepLab-v2, whose sum gave the class scores.
    """

    def __init__(self, in_channels: int, out_channels: int, rates: Sequence[int]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=rate, dilation=rate) for rate in rates
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([branch(x) for branch in self.branches]).sum(dim=0)


def upsampling_block(in_channels: int, out_channels: int, upsampler: UpsamplerFactory) -> nn.Sequential:
    """Up-sampler ``in -> in`` + BN + ReLU, then a 3x3 convolution ``in -> out`` + BN + ReLU."""
    return nn.Sequential(
        OrderedDict(
            upsample=upsampler(in_channels, in_channels),
            upsample_norm=nn.BatchNorm2d(in_channels),
            upsample_relu=nn.ReLU(inplace=True),
            conv=conv_norm_relu(in_channels, out_channels, same_conv(2), nn.BatchNorm2d),
        )
    )


class DeepLabResNet(nn.Module):
    """DeepLab-ResNet (output stride 8) followed by three learned 2x up-sampling blocks.

    Args:
        num_classes: channels of the output score map.
        upsampler: factory ``(in_channels, out_channels) -> nn.Module`` for the 2x up-sampling
            layers; called three times, as ``(C, C)``, ``(C/2, C/2)``, ``(C/4, C/4)`` with
            ``C = decoder_channels``.
        depth: ResNet depth, one of 18, 34, 50, 101 (the paper uses 101).
        pretrained: path of a local weights file, or ``None`` for random initialisation (a
            warning is logged). The file holds either a torchvision ResNet state dict (``fc``
            entries are ignored) loaded into the backbone, or a state dict of this model, bare
            or under the ``"model"`` key of a training checkpoint, loaded into the whole model.
            Anything that does not match exactly raises ``PretrainedWeightsError``. Nothing is
            ever downloaded.
        freeze_bn: keep the backbone's BatchNorm layers in eval mode (running statistics
            frozen) even in ``model.train()``, and stop gradients to their affine parameters;
            the usual choice when fine-tuning with small batches.
        head: ``"aspp_v2"`` (default) is DeepLab-v2's ASPP, four summed dilated convolutions
            (``ASPPv2``), the head of the DeepLab-ResNet the paper fine-tunes. ``"aspp_v3"`` is
            DeepLab-v3's ASPP (torchvision's: 1x1 conv, dilated 3x3 convs and image pooling,
            each with BN + ReLU, concatenated and projected, with dropout 0.5); its pooling
            branch applies BatchNorm to a 1x1 map, so training needs batches of 2 or more.
        aspp_rates: dilation rates of the head; ``None`` picks DeepLab's rates for output
            stride 8: ``(6, 12, 18, 24)`` for v2 and ``(12, 24, 36)`` for v3.
        decoder_channels: channels of the head's output, halved by each up-sampling block;
            must be divisible by 8.

    ``forward`` maps images ``N x 3 x H x W`` with values in ``[0, 1]`` (normalised inside with
    the ImageNet mean and std) to scores ``N x num_classes x H x W``; ``H`` and ``W`` must be
    divisible by 8.
    """

    size_divisor = OUTPUT_STRIDE

    def __init__(
        self,
        num_classes: int,
        upsampler: UpsamplerFactory,
        depth: int = 101,
        pretrained: str | os.PathLike[str] | None = None,
        freeze_bn: bool = False,
        head: Literal["aspp_v2", "aspp_v3"] = "aspp_v2",
        aspp_rates: Sequence[int] | None = None,
        decoder_channels: int = 256,
    ) -> None:
        super().__init__()
        if head not in _DEFAULT_ASPP_RATES:
            raise ValueError(f"DeepLabResNet head must be one of {sorted(_DEFAULT_ASPP_RATES)}, got {head!r}")
        if decoder_channels % 8:
            raise ValueError(f"DeepLabResNet decoder_channels must be divisible by 8, got {decoder_channels}")
        self.depth = depth
        self.freeze_bn = freeze_bn
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

        self.backbone = resnet_backbone(depth)
        backbone_channels = _BACKBONE_CHANNELS[depth]
        rates = tuple(aspp_rates) if aspp_rates is not None else _DEFAULT_ASPP_RATES[head]
        if head == "aspp_v2":
            self.head: nn.Module = ASPPv2(backbone_channels, decoder_channels, rates)
        else:
            self.head = ASPP(backbone_channels, rates, decoder_channels)
        block_channels = [decoder_channels, decoder_channels // 2, decoder_channels // 4, decoder_channels // 8]
        self.decoder = nn.Sequential(
            *(upsampling_block(c_in, c_out, upsampler) for c_in, c_out in itertools.pairwise(block_channels))
        )
        self.classifier = nn.Conv2d(block_channels[-1], num_classes, kernel_size=1)

        if freeze_bn:
            for module in self._backbone_norms():
                for parameter in module.parameters():
                    parameter.requires_grad_(False)
        if pretrained is None:
            logger.warning(
                "DeepLabResNet: the ResNet-%d backbone is randomly initialised (pretrained=None); "
                "pass pretrained=/path/to/resnet%d.pth to fine-tune as in the paper",
                depth,
                depth,
            )
        else:
            self.load_pretrained(pretrained)
        self.train()

    def _backbone_norms(self) -> list[nn.Module]:
        # _BatchNorm also matches SyncBatchNorm, which distributed training may swap in.
        return [m for m in self.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def train(self, mode: bool = True) -> DeepLabResNet:
        """Set training mode; with ``freeze_bn`` the backbone's BatchNorm layers stay in eval mode."""
        super().train(mode)
        if self.freeze_bn:
            for module in self._backbone_norms():
                module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if height % self.size_divisor or width % self.size_divisor:
            raise ValueError(
                f"DeepLabResNet input size {height}x{width} is not divisible by {self.size_divisor} "
                f"(the backbone has output stride {OUTPUT_STRIDE}); resize or crop inputs to a multiple "
                f"of {self.size_divisor}"
            )
        x = (x - self.mean) / self.std
        return self.classifier(self.decoder(self.head(self.backbone(x))))

    def param_groups(self, lr: float, backbone_lr_mult: float = 0.1) -> list[dict]:
        """Optimizer parameter groups: the backbone at ``lr * backbone_lr_mult``, new layers at ``lr``.

        New layers are the head, the up-sampling blocks and the class layer. Only trainable
        parameters are listed (frozen BatchNorm parameters are left out); each appears in exactly
        one group. Each group also carries a ``"name"`` (``"backbone"`` or ``"new"``) for logging.
        """
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        new = [p for name, p in self.named_parameters() if not name.startswith("backbone.") and p.requires_grad]
        return [
            {"params": backbone, "lr": lr * backbone_lr_mult, "name": "backbone"},
            {"params": new, "lr": lr, "name": "new"},
        ]

    def load_pretrained(self, path: str | os.PathLike[str]) -> None:
        """Load a torchvision ResNet state dict into the backbone, or a checkpoint of this model.

        See the ``pretrained`` argument. Raises ``FileNotFoundError`` if ``path`` does not exist
        and ``PretrainedWeightsError`` if it cannot be read or does not match exactly (missing,
        unexpected or differently shaped entries; ``num_batches_tracked`` counters, absent from
        older torchvision files, may be missing).
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"pretrained weights file not found: {path}; point pretrained= at a local torchvision "
                f"resnet{self.depth} state dict or a DeepLabResNet checkpoint, or set it to null for random init"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch.load raises many types; all mean "not a readable state dict"
            raise PretrainedWeightsError(
                f"cannot read {path} with torch.load(weights_only=True) ({_load_failure_reason(error)}); "
                f"expected a state dict of tensors, bare or under 'model', with only plain Python values beside it"
            ) from error
        if isinstance(state, Mapping) and isinstance(state.get("model"), Mapping):
            state = state["model"]
        if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise PretrainedWeightsError(
                f"{path} does not hold a state dict (a mapping from names to tensors, bare or under 'model')"
            )
        if any(key.startswith("backbone.") for key in state):
            target: nn.Module = self
            kind = "DeepLabResNet checkpoint"
        else:
            target = self.backbone
            kind = f"torchvision ResNet state dict (for resnet{self.depth})"
            state = {key: value for key, value in state.items() if not key.startswith("fc.")}
        _check_state_dict_fits(target, state, f"{path} as a {kind}")
        # Exact fit was checked above; strict=False only tolerates absent num_batches_tracked.
        target.load_state_dict(state, strict=False)


def _load_failure_reason(error: Exception) -> str:
    """The informative sentence of a ``torch.load`` error, whose full text spans many lines."""
    text = str(error)
    unpickler = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = unpickler.group(1) if unpickler else (lines[0] if lines else type(error).__name__)
    return reason.split(". ")[0].rstrip(".")


def _check_state_dict_fits(target: nn.Module, state: Mapping[str, torch.Tensor], description: str) -> None:
    """Raise ``PretrainedWeightsError`` unless ``state`` has exactly ``target``'s entries and shapes."""
    expected = target.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if not (missing or unexpected or mismatched):
        return
    labelled = [
        [f"missing {k}" for k in missing],
        [f"unexpected {k}" for k in unexpected],
        [f"shape {entry}" for entry in mismatched],
    ]
    interleaved = (entry for group in itertools.zip_longest(*labelled) for entry in group if entry is not None)
    examples = ", ".join(itertools.islice(interleaved, _MAX_LISTED_KEYS))
    raise PretrainedWeightsError(
        f"cannot load {description}: {len(missing)} missing, {len(unexpected)} unexpected and "
        f"{len(mismatched)} shape-mismatched keys (e.g. {examples}); the file must come from the same "
        f"ResNet depth or the same model configuration"
    )
