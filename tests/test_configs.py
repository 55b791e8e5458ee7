"""The Hydra configuration: every combination composes and builds; defaults and checks behave."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from conftest import CONFIG_DIR, composed
from data.conftest import write_coco_fixture, write_fashion_idx_fixture, write_voc_fixture
from omegaconf import OmegaConf

import pixeldcn.build as build
import pixeldcn.run as run
from pixeldcn.engine.settings import EvalSettings, TrainerSettings, option_names
from pixeldcn.models import DeepLabResNet, UNet
from pixeldcn.upsamplers import UPSAMPLERS

# The registered 2D up-samplers, the ones U-Net and DeepLab take (3D ones are named *3d).
PLANAR_UPSAMPLERS = sorted(name for name in UPSAMPLERS if not name.endswith("3d"))

# The labelled datasets; the others (e.g. CelebA) hold images for the generation task.
DATASETS = ["coco", "fashion_scenes", "synthetic_shapes", "voc"]

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def dataset_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Overrides pointing each file-based dataset at a tiny copy in its real format."""
    base = tmp_path_factory.mktemp("datasets")
    write_voc_fixture(base / "voc", size=(40, 36))
    write_coco_fixture(base / "coco")
    write_fashion_idx_fixture(base / "fashion")
    return {
        "synthetic_shapes": [],
        "voc": [f"dataset.root={base / 'voc'}"],
        "coco": [f"dataset.root={base / 'coco'}"],
        "fashion_scenes": [f"dataset.root={base / 'fashion'}"],
    }


@pytest.mark.parametrize("name", sorted(UPSAMPLERS))
def test_every_registered_upsampler_has_a_config_of_its_name(name):
    config = OmegaConf.load(CONFIG_DIR / "upsampler" / f"{name}.yaml")
    assert config._target_ == "pixeldcn.upsamplers.build_upsampler" and config._partial_
    assert config._args_ == [name]


def test_the_segmentation_datasets_are_configured():
    assert set(DATASETS) <= {path.stem for path in (CONFIG_DIR / "dataset").glob("*.yaml")}


@pytest.mark.parametrize("upsampler", PLANAR_UPSAMPLERS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_every_dataset_and_upsampler_composes_and_builds(dataset, upsampler, dataset_roots):
    with composed("debug=smoke", f"dataset={dataset}", f"upsampler={upsampler}", *dataset_roots[dataset]) as cfg:
        run.validate(cfg)
        data = build.build_dataset(cfg, "train")
        task = build.build_task(cfg, data)
        model = build.build_model(cfg, task, data)
    assert isinstance(model, UNet)
    assert sum(isinstance(module, UPSAMPLERS[upsampler]) for module in model.modules()) == 4
    image, mask = data[0]
    assert image.shape == (3, 32, 32) and mask.shape == (32, 32)
    model.eval()
    with torch.no_grad():
        scores = model(image[None])
    assert scores.shape == (1, data.num_classes, 32, 32)


@pytest.mark.parametrize("dataset", DATASETS)
def test_deeplab_composes_and_builds_with_every_dataset(dataset, dataset_roots):
    with composed("debug=smoke", f"dataset={dataset}", "model=deeplab_resnet", *dataset_roots[dataset]) as cfg:
        run.validate(cfg)
        data = build.build_dataset(cfg, "train")
        model = build.build_model(cfg, build.build_task(cfg, data), data)
    assert isinstance(model, DeepLabResNet) and model.depth == 18
    model.eval()
    with torch.no_grad():
        assert model(data[0][0][None]).shape == (1, data.num_classes, 32, 32)


def test_vae_composes_with_the_generation_task():
    with composed("debug=smoke", "model=vae") as cfg:
        assert cfg.task._target_.endswith("GenerationTask")
        assert cfg.model.width == 8 and "num_classes" not in cfg.model


def test_the_default_run_is_the_cpu_demo():
    with composed("experiment=demo") as demo:
        demo = OmegaConf.to_container(demo)
    with composed() as default:
        assert OmegaConf.to_container(default) == demo
    assert default.dataset._target_ == "pixeldcn.data.SyntheticShapes"
    assert default.dataset.image_size == 64
    assert default.model._target_ == "pixeldcn.models.UNet" and default.model.width == 16
    assert default.upsampler._args_ == ["pixeldcl"] and default.upsampler.impl == "auto"
    assert default.trainer.optimizer._target_ == "torch.optim.Adam" and default.trainer.optimizer.lr == 1e-3
    assert default.task._target_ == "pixeldcn.tasks.SegmentationTask"


def test_paper_datasets_get_the_paper_unet_without_the_demo_sizes():
    with composed("dataset=voc") as voc:
        assert voc.model.width == 64 and voc.dataset.image_size == 256
    with composed("experiment=table1_coco_unet") as coco:
        assert coco.model.width == 128 and coco.dataset.image_size == 256
        assert coco.dataset._target_ == "pixeldcn.data.COCOSegmentation"


def test_deeplab_paper_setup_needs_local_imagenet_weights():
    with composed("experiment=table1_voc_deeplab", "model.pretrained=/w/resnet101.pth") as cfg:
        assert (cfg.model.depth, cfg.model.pretrained, cfg.dataset.sbd) == (101, "/w/resnet101.pth", True)
        assert cfg.trainer.param_groups.backbone_lr_mult == 0.1 and cfg.dataset.image_size == 256
    with composed("experiment=table1_voc_deeplab") as cfg:
        assert cfg.model.pretrained.endswith("data/weights/resnet101.pth")


def test_user_overrides_reach_the_config():
    overrides = ["dataset=voc", "dataset.root=/data/x", "model.width=16", "upsampler=deconv", "trainer.max_steps=7"]
    with composed(*overrides) as cfg:
        assert (cfg.dataset.root, cfg.model.width, cfg.trainer.max_steps) == ("/data/x", 16, 7)
        assert cfg.upsampler._args_ == ["deconv"] and "impl" not in cfg.upsampler
    with composed("model=deeplab_resnet", "model.depth=18", "model.pretrained=/x.pth") as cfg:
        assert (cfg.model.depth, cfg.model.pretrained) == (18, "/x.pth")
        assert "width" not in cfg.model


def test_run_directory_names_dataset_model_and_upsampler():
    with composed("dataset=voc", "upsampler=ipixeldcl", hydra_node=True) as cfg:
        run_dir = cfg.hydra.run.dir
        assert cfg.hydra.output_subdir == ".hydra"
    assert re.fullmatch(r"outputs/voc/unet/ipixeldcl/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", run_dir)


def test_resume_writes_into_the_resumed_run_and_keeps_its_saved_config():
    with composed("resume=outputs/a/b", hydra_node=True) as cfg:
        assert cfg.hydra.run.dir == "outputs/a/b"
        assert cfg.hydra.output_subdir is None


def test_image_size_must_suit_the_model():
    with composed("dataset.image_size=40") as cfg:
        data = build.build_dataset(cfg, "val")
        with pytest.raises(run.ConfigError, match=r"dataset.image_size=40 is not divisible by 16.*image_size=32"):
            build.build_model(cfg, build.build_task(cfg, data), data)


def test_the_size_divisor_is_the_configured_model_s():
    # UNet3D(depth=2) pools twice: 12 is a multiple of 4 (its size_divisor), not of the class's 16.
    overrides = ["model=unet3d", "model.depth=2", "model.width=2", "dataset=synthetic_volumes", "dataset.image_size=12"]
    with composed(*overrides, "upsampler=deconv3d", "dataset.num_samples=2") as cfg:
        run.validate(cfg)
        data = build.build_dataset(cfg, "val")
        model = build.build_model(cfg, build.build_task(cfg, data), data)
    assert model.size_divisor == 4
    with torch.no_grad():
        assert model.eval()(data[0][0][None]).shape == (1, data.num_classes, 12, 12, 12)
    with composed(*overrides[:-1], "dataset.image_size=10", "upsampler=deconv3d") as cfg:
        data = build.build_dataset(cfg, "val")
        with pytest.raises(run.ConfigError, match=r"dataset.image_size=10 is not divisible by 4.*image_size=8"):
            build.build_model(cfg, build.build_task(cfg, data), data)


def test_a_key_the_model_does_not_take_is_named():
    with composed("model=deeplab_resnet", "+model.width=8") as cfg:
        with pytest.raises(run.ConfigError, match=r"model.width is not a parameter of pixeldcn.models.DeepLabResNet"):
            run.validate(cfg)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["mode=predict"], "mode=predict is not one of train, eval"),
        (["mode=eval"], "mode=eval needs the weights to evaluate: add ckpt_path="),
        (["mode=eval", "ckpt_path=/nonexistent.pt"], "ckpt_path=/nonexistent.pt does not exist"),
        (["ckpt_path=/x.pt"], "ckpt_path is read by mode=eval only"),
        (["task._target_=pixeldcn.tasks.Nope"], "task._target_=pixeldcn.tasks.Nope cannot be imported"),
    ],
)
def test_invalid_settings_fail_validation(overrides, message):
    with composed(*overrides) as cfg:
        with pytest.raises(run.ConfigError, match=re.escape(message)):
            run.validate(cfg)


def test_model_settings_that_contradict_the_dataset_are_refused():
    with composed("debug=smoke", "+model.num_classes=3") as cfg:
        data = build.build_dataset(cfg, "val")
        with pytest.raises(run.ConfigError, match=r"model.num_classes=3 disagrees with the dataset, which needs 5"):
            build.build_model(cfg, build.build_task(cfg, data), data)


def test_optimizer_uses_the_model_parameter_groups_when_it_has_them():
    with composed("debug=smoke", "model=deeplab_resnet", "+trainer.param_groups.backbone_lr_mult=0.5") as cfg:
        data = build.build_dataset(cfg, "val")
        model = build.build_model(cfg, build.build_task(cfg, data), data)
        optimizer = build.build_optimizer(cfg, model)
    assert isinstance(optimizer, torch.optim.Adam)
    assert {group["name"]: group["lr"] for group in optimizer.param_groups} == {"backbone": 5e-4, "new": 1e-3}


def test_scheduler_is_built_from_its_config():
    overrides = ["debug=smoke", "trainer.scheduler={_target_: torch.optim.lr_scheduler.StepLR, step_size: 3}"]
    with composed(*overrides) as cfg:
        data = build.build_dataset(cfg, "val")
        optimizer = build.build_optimizer(cfg, build.build_model(cfg, build.build_task(cfg, data), data))
        scheduler = build.build_scheduler(cfg, optimizer)
    assert isinstance(scheduler, torch.optim.lr_scheduler.StepLR) and scheduler.step_size == 3


def test_missing_dataset_files_raise_the_layout_message(tmp_path: Path):
    with composed("dataset=voc", f"dataset.root={tmp_path}") as cfg:
        with pytest.raises(FileNotFoundError, match=r"Expected layout: .*Fix: set dataset.root="):
            build.build_dataset(cfg, "train")


def test_a_value_a_constructor_rejects_is_reported_with_its_config_node():
    with composed("+dataset.num_classes=9") as cfg:
        with pytest.raises(run.ConfigError, match=r"^dataset: num_classes must be between 2 and 5, got 9$"):
            build.build_dataset(cfg, "train")


def test_the_trainer_takes_every_trainer_and_eval_option_of_the_config(tmp_path: Path):
    overrides = ["trainer.max_epochs=7", "trainer.accumulate_grad_batches=3", "trainer.on_nonfinite_loss=skip"]
    with composed(*overrides, "trainer.grad_clip_norm=0.5", "eval.num_images=5", "eval.batch_size=3") as cfg:
        trainer = build.build_trainer(cfg, tmp_path, torch.device("cpu"), callbacks=[])
        assert {name: getattr(trainer.settings, name) for name in option_names(TrainerSettings)} == {
            name: cfg.trainer[name] for name in option_names(TrainerSettings)
        }
        assert {name: getattr(trainer.eval_settings, name) for name in option_names(EvalSettings)} == dict(cfg.eval)
    assert (trainer.settings.max_epochs, trainer.settings.accumulate_grad_batches, trainer.eval_batch_size) == (7, 3, 3)
