"""``python train.py model=vae ...`` end to end: metrics.json, pictures, and the Fig. 9 comparison."""

from __future__ import annotations

import importlib.util
import json
import math
from functools import partial

import pytest
import torch
from conftest import QUIET_SMOKE, REPO_ROOT, composed
from data.conftest import write_fashion_idx_fixture
from hydra.utils import instantiate
from PIL import Image
from torch.utils.data import default_collate

import pixeldcn.build as build
import pixeldcn.run as run
from generation.conftest import write_celeba_fixture
from pixeldcn.metrics import checkerboard_score
from pixeldcn.models import VAE
from pixeldcn.report.samples import compare_samples, load_run_samples
from pixeldcn.upsamplers import UPSAMPLERS, build_upsampler

SUMMARY_KEYS = {
    "elbo", "loss", "recon", "kl", "recon_mse",
    "checkerboard_samples", "checkerboard_reconstructions", "checkerboard_real",
}  # fmt: skip
PICTURES = ("samples", "reconstructions", "interpolation")


def compare_main(argv: list[str]) -> int:
    """``scripts/compare_samples.py``'s ``main``."""
    path = REPO_ROOT / "scripts" / "compare_samples.py"
    spec = importlib.util.spec_from_file_location("compare_samples_script", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script.main(argv)


def read_final(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())["final"]


def check_generation_run(run_dir, tile: int, samples: int = 64) -> dict:
    """The run wrote every summary key (finite) and the three pictures; returns ``final``."""
    final = read_final(run_dir)
    assert SUMMARY_KEYS <= set(final)
    assert all(math.isfinite(final[key]) for key in SUMMARY_KEYS)
    assert final["elbo"] == pytest.approx(-(final["recon"] + final["kl"]))
    for name in PICTURES:
        with Image.open(run_dir / "images" / f"{name}.png") as picture:
            assert picture.mode == "RGB"
            if name == "samples":
                assert picture.size == (2 + 8 * (tile + 2), 2 + math.ceil(samples / 8) * (tile + 2))
    return final


def test_vae_trains_on_a_celeba_layout_fixture(run_train, tmp_path):
    fixture = write_celeba_fixture(tmp_path / "data")
    run_dir = run_train(tmp_path / "run", "model=vae", "dataset=celeba", f"dataset.root={fixture.root}", *QUIET_SMOKE)
    final = check_generation_run(run_dir, tile=32)
    assert final["split"] == "val" and final["num_images"] == 2
    # The real images' reference score is that of the two val faces, as the dataset returns them.
    with composed("model=vae", "dataset=celeba", f"dataset.root={fixture.root}", "debug=smoke") as cfg:
        val = instantiate(cfg.dataset, split="val")
    real = torch.stack([val[0][0], val[1][0]])
    assert final["checkerboard_real"] == pytest.approx(checkerboard_score(real), rel=1e-9)


def test_vae_trains_on_grey_28x28_fashion_mnist(run_train, tmp_path):
    fixture = write_fashion_idx_fixture(tmp_path / "fashion")
    run_dir = run_train(
        tmp_path / "run", "model=vae", "dataset=fashion_mnist", f"dataset.root={fixture.root}", "dataset.val_size=2",
        *QUIET_SMOKE, "dataset.image_size=28", "task.num_vis_samples=16",
    )  # fmt: skip
    check_generation_run(run_dir, tile=28, samples=16)
    checkpoint = torch.load(run_dir / "best.pt", map_location="cpu", weights_only=False)
    assert checkpoint["model"]["encoder.0.layer.weight"].shape[1] == 1  # one input channel


def test_deconv_and_pixeldcl_runs_score_their_samples_and_compare_side_by_side(run_train, tmp_path):
    runs = {}
    for upsampler in ("deconv", "pixeldcl"):
        runs[upsampler] = run_train(
            tmp_path / upsampler, "model=vae", "dataset=synthetic_faces", f"upsampler={upsampler}", *QUIET_SMOKE
        )
    for upsampler, run_dir in runs.items():
        final = check_generation_run(run_dir, tile=32)
        # Recompute the samples' score from the saved weights: the same 64 seeded prior draws.
        model = VAE(partial(build_upsampler, upsampler), in_channels=3, image_size=32, latent_dim=16, width=8)
        model.load_state_dict(torch.load(run_dir / "best.pt", map_location="cpu", weights_only=False)["model"])
        assert sum(isinstance(module, UPSAMPLERS[upsampler]) for module in model.modules()) == 3
        samples = model.eval().sample(64, generator=torch.Generator().manual_seed(0))
        assert final["checkerboard_samples"] == pytest.approx(checkerboard_score(samples), rel=1e-6)
    assert read_final(runs["deconv"])["checkerboard_samples"] != read_final(runs["pixeldcl"])["checkerboard_samples"]
    # Both runs evaluated the same faces.
    assert read_final(runs["deconv"])["checkerboard_real"] == read_final(runs["pixeldcl"])["checkerboard_real"]

    loaded = [load_run_samples(runs[name]) for name in ("deconv", "pixeldcl")]
    assert [run.upsampler for run in loaded] == ["deconv", "pixeldcl"]
    assert [run.checkerboard for run in loaded] == [read_final(runs[name])["checkerboard_samples"] for name in runs]
    assert loaded[0].image.shape == (274, 274, 3)

    figure = compare_samples(list(runs.values()), tmp_path / "fig" / "fig9.png", title="VAE samples")
    with Image.open(figure) as picture:
        assert picture.format == "PNG" and picture.width > 1.5 * picture.height  # two panels side by side
    assert compare_main([str(runs["deconv"]), str(runs["pixeldcl"]), "--out", str(tmp_path / "cli.png")]) == 0
    assert (tmp_path / "cli.png").is_file()


def test_compare_samples_names_a_directory_that_is_not_a_finished_run(tmp_path, capsys):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "metrics.json").write_text("{}")
    assert compare_main([str(tmp_path / "half"), "--out", str(tmp_path / "fig.png")]) == 1
    error = capsys.readouterr().err
    assert "half/images/samples.png is missing" in error and "model=vae" in error
    assert not (tmp_path / "fig.png").exists()


def test_fig9_experiment_sweeps_deconv6_and_pixeldcl_on_celeba():
    with composed("experiment=fig9_celeba_vae", hydra_node=True) as cfg:
        assert cfg.dataset._target_.endswith("CelebA") and cfg.dataset.image_size == 64 and cfg.dataset.crop == 148
        assert cfg.model._target_.endswith("VAE") and cfg.model.latent_dim == 128
        assert cfg.task._target_.endswith("GenerationTask")
        assert cfg.hydra.sweeper.params.upsampler == "deconv6,pixeldcl"
        assert cfg.hydra.runtime.choices.upsampler == "deconv6"


@pytest.mark.parametrize(
    ("dataset", "channels", "size"),
    [("celeba", 3, 32), ("fashion_mnist", 1, 32), ("synthetic_faces", 3, 32), ("synthetic_shapes", 3, 32)],
)
def test_every_image_dataset_builds_a_vae_of_its_shape(dataset, channels, size, tmp_path):
    roots = {
        "celeba": [f"dataset.root={write_celeba_fixture(tmp_path).root}"],
        "fashion_mnist": [f"dataset.root={write_fashion_idx_fixture(tmp_path / 'fashion').root}", "dataset.val_size=2"],
    }
    with composed("model=vae", f"dataset={dataset}", "debug=smoke", *roots.get(dataset, [])) as cfg:
        run.validate(cfg)
        data = build.build_dataset(cfg, "train")
        task = build.build_task(cfg, data)
        model = build.build_model(cfg, task, data)
    assert (model.in_channels, model.image_size) == (channels, size)
    # Segmentation sets work too: the task takes the images and ignores the masks.
    loss, logs = task.loss(model, default_collate([data[0], data[1]]))
    assert loss.ndim == 0 and set(logs) == {"recon", "kl", "elbo"}
