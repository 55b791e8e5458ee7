"""The GVAE's configs compose and build dataset, task and model through the run's builders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import composed
from data.conftest import write_fashion_idx_fixture

import pixeldcn.build as build
from pixeldcn.config.validate import validate
from pixeldcn.models import GVAE, GVAE3D
from pixeldcn.tasks.adversarial import AdversarialTask

from .conftest import write_nifti

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("gvae_data")
    write_fashion_idx_fixture(base / "fashion", train_labels=tuple(range(10)) * 2)
    (base / "ct" / "imagesTr").mkdir(parents=True)
    for index in range(3):
        hu = np.random.default_rng(index).integers(-1000, 1000, size=(12, 12, 10)).astype(np.float64)
        write_nifti(base / "ct" / "imagesTr" / f"pancreas_{index:03d}.nii.gz", hu)
    return {"fashion": str(base / "fashion"), "ct": str(base / "ct")}


@pytest.mark.parametrize("upsampler", ["deconv", "pixeldcl", "resize_nearest"])
def test_gvae_on_fashion_mnist_builds_from_the_smoke_config(upsampler, roots):
    overrides = ["model=gvae", "dataset=fashion_mnist", f"dataset.root={roots['fashion']}", "dataset.val_size=4"]
    with composed("debug=smoke", f"upsampler={upsampler}", *overrides) as cfg:
        validate(cfg)
        data = build.build_dataset(cfg, "train")
        task = build.build_task(cfg, data)
        model = build.build_model(cfg, task, data)
    assert isinstance(task, AdversarialTask) and isinstance(model, GVAE)
    assert model.image_size == 32 and model.in_channels == 1
    images = torch.stack([data[index][0] for index in range(2)])
    assert model(task.to_model_scale(images))[0].shape == (2, 1, 32, 32)


def test_gvae3d_on_nifti_volumes_builds_from_the_smoke_config(roots):
    overrides = ["model=gvae3d", "upsampler=pixeldcl3d", "dataset=ct_volumes", f"dataset.root={roots['ct']}"]
    with composed("debug=smoke", *overrides, "dataset.val_size=1", "dataset.image_size=8") as cfg:
        validate(cfg)
        data = build.build_dataset(cfg, "train")
        task = build.build_task(cfg, data)
        model = build.build_model(cfg, task, data)
    assert isinstance(model, GVAE3D) and len(data) == 2 and task.value_range == (-1.0, 1.0)
    volume = data[0][0]
    assert volume.shape == (1, 8, 8, 8) and model(volume[None])[0].shape == (1, 1, 8, 8, 8)


@pytest.mark.parametrize(
    ("experiment", "sweep"),
    [
        ("gvae_fashion", {"upsampler": "deconv,pixeldcl,resize_nearest"}),
        ("gvae_latent_sweep", {"upsampler": "pixeldcl", "model.latent_dim": "100,500,1000,2000"}),
        ("gvae_vs_vae", {"upsampler": "pixeldcl", "task.adversarial_weight": "0,1"}),
        ("gvae_pancreas_ct", {"upsampler": "deconv3d,pixeldcl3d"}),
    ],
)
def test_experiments_sweep_what_the_seeds_tables_vary(experiment, sweep):
    with composed(f"experiment={experiment}", hydra_node=True) as cfg:
        assert dict(cfg.hydra.sweeper.params) == sweep
        assert cfg.task._target_.endswith("AdversarialTask") and cfg.task.lr == 1e-4


def test_the_seed_plan_is_tables_1_and_2():
    with composed("experiment=gvae_seed_plan") as cfg:
        assert cfg.dataset.image_size == 128 and cfg.model.latent_dim == 512 and cfg.trainer.batch_size == 32
        assert list(cfg.model.generator_channels) == [256, 128, 64] and list(cfg.model.critic_channels) == [
            64,
            128,
            256,
        ]
        assert cfg.model.blocks_per_stage == 2
