"""experiment=authors_release_voc_unet and the authors' variants compose, build and train under debug=smoke."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import QUIET_SMOKE, composed
from data.conftest import write_voc_fixture
from hydra.utils import instantiate
from torch import nn

from pixeldcn.models.layers import BatchNorm2dNoScale

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def voc(tmp_path):
    return write_voc_fixture(tmp_path / "voc", n_train=4, n_val=2, size=(40, 30), sbd=True)


def test_the_experiment_is_the_authors_released_set_up():
    with composed("experiment=authors_release_voc_unet") as cfg:
        assert cfg.dataset._target_ == "pixeldcn.data.VOCSegmentation" and cfg.dataset.image_size == 256
        assert cfg.dataset.sbd is True and cfg.dataset.normalization == "authors"
        assert cfg.model._target_ == "pixeldcn.models.UNet" and cfg.model.width == 64
        assert cfg.model.head == "conv_bn_relu" and cfg.model.bn_scale is False
        assert cfg.trainer.batch_size == 2
        assert cfg.trainer.optimizer._target_ == "torch.optim.Adam" and cfg.trainer.optimizer.lr == 1e-3
        model = instantiate(cfg.model, num_classes=21, upsampler=lambda c, o: nn.Upsample(scale_factor=2))
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, BatchNorm2dNoScale) and m.weight is None for m in norms)
    head = model.decoder[-1].conv2
    assert [type(m) for m in head] == [nn.Conv2d, BatchNorm2dNoScale, nn.ReLU] and head[0].out_channels == 21


def test_the_authors_release_trains_under_smoke(run_train, tmp_path, voc):
    run_dir = run_train(
        tmp_path / "run", *QUIET_SMOKE, "experiment=authors_release_voc_unet", f"dataset.root={voc.root}"
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["run"]["experiment"] == "authors_release_voc_unet" and metrics["final"]["num_images"] == 2
    weights = torch.load(run_dir / "best.pt", map_location="cpu", weights_only=False)
    state = weights["model"]
    assert not any(key.endswith("upsample_norm.weight") for key in state)  # no BatchNorm scale
    assert "decoder.3.conv2.1.bias" in state  # the class layer's BatchNorm (conv -> BN -> ReLU)


@pytest.mark.parametrize(
    "overrides",
    [
        ("model.head=conv", "model.bn_scale=true", "dataset.normalization=unit"),
        ("model.head=conv_bn", "model.bn_scale=false", "dataset.normalization=authors"),
    ],
    ids=["conv-scale-unit", "conv_bn-noscale-authors"],
)
def test_variants_of_the_release_train_under_smoke(run_train, tmp_path, voc, overrides):
    run_dir = run_train(
        tmp_path / "run", *QUIET_SMOKE, "experiment=authors_release_voc_unet", f"dataset.root={voc.root}", *overrides
    )
    saved = (run_dir / ".hydra" / "config.yaml").read_text()
    assert all(f"{key.split('.')[1]}: {value}" in saved for key, value in (o.split("=") for o in overrides))
    assert json.loads((run_dir / "metrics.json").read_text())["final"]["mean_iou"] >= 0


def test_the_demo_dataset_trains_with_the_authors_normalisation(run_train, tmp_path):
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE, "dataset.normalization=authors", "model.bn_scale=false")
    assert "normalization: authors" in (run_dir / ".hydra" / "config.yaml").read_text()
    assert json.loads((run_dir / "metrics.json").read_text())["run"]["dataset"] == "synthetic_shapes"
