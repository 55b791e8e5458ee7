"""load_model and predict.py on a trained VOC fixture run: masks equal the model's argmax."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import QUIET_SMOKE, REPO_ROOT
from data.conftest import write_voc_fixture
from hydra.utils import instantiate
from PIL import Image

import pixeldcn
import pixeldcn.data
from pixeldcn.engine import load_checkpoint
from pixeldcn.models import UNet

PREDICT_SCRIPT = REPO_ROOT / "predict.py"


def predict_main():
    return runpy.run_path(str(PREDICT_SCRIPT), run_name="predict")["main"]


@pytest.fixture
def voc_run(run_train, tmp_path):
    """A smoke run on the VOC fixture with normalization=authors, so the stored mean matters."""
    fixture = write_voc_fixture(tmp_path / "voc", size=(40, 30))
    run_dir = run_train(
        tmp_path / "run", *QUIET_SMOKE, "dataset=voc", f"dataset.root={fixture.root}", "dataset.normalization=authors"
    )
    return fixture, run_dir


def independent_mask(run_dir: Path, picture: Image.Image) -> np.ndarray:
    """The argmax mask computed here from the checkpoint's weights and the dataset's own definition of the input."""
    checkpoint = load_checkpoint(run_dir / "best.pt")
    config = checkpoint["config"]
    model = instantiate(config["model"], upsampler=instantiate(config["upsampler"]), num_classes=21)
    assert isinstance(model, UNet)
    model.load_state_dict(checkpoint["model"])
    model.eval()
    # The dataset's mean, recomputed from the fixture's training split exactly as VOCSegmentation reads it.
    from pixeldcn.data import VOCSegmentation

    train = VOCSegmentation(config["dataset"]["root"], "train", image_size=32)
    mean = torch.stack([train[i][0] for i in range(len(train))]).double().mean(dim=(0, 2, 3)) * 255
    pixels = np.asarray(picture.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float64)
    image = torch.from_numpy(pixels).permute(2, 0, 1) - mean.view(3, 1, 1)
    with torch.no_grad():
        scores = model(image.float().unsqueeze(0))
    scores = F.interpolate(scores, size=picture.size[::-1], mode="bilinear", align_corners=False)
    return scores.argmax(dim=1)[0].numpy().astype(np.uint8)


def test_checkpoints_hold_what_using_the_model_takes(voc_run):
    fixture, run_dir = voc_run
    info = load_checkpoint(run_dir / "best.pt")["inference"]
    assert info["task"] == "segmentation" and info["num_classes"] == 21 and info["class_names"][15] == "person"
    assert info["palette"][1] == [128, 0, 0] and info["image_size"] == 32 and info["channels"] == 3
    assert info["normalization"] == "authors" and len(info["pixel_mean"]) == 3
    # The final evaluation's report: the confusion matrix of the val split's labelled pixels, the table in the log.
    matrix = np.load(run_dir / "confusion_matrix.npy")
    val = pixeldcn.data.VOCSegmentation(fixture.root, "val", image_size=32)
    assert matrix.shape == (21, 21) and matrix.sum() == sum(int((val[i][1] != 255).sum()) for i in range(len(val)))
    assert (run_dir / "confusion_matrix.csv").read_text().startswith("truth \\ prediction,background,aeroplane,")
    assert (run_dir / "confusion_matrix.png").is_file() and "| person      |" in (run_dir / "train.log").read_text()


def test_load_model_and_predict_py_write_the_models_argmax_as_palette_pngs(voc_run, tmp_path):
    fixture, run_dir = voc_run
    loaded = pixeldcn.load_model(run_dir)
    assert not loaded.model.training and loaded.checkpoint == run_dir / "best.pt"
    assert loaded.class_names[0] == "background" and loaded.num_classes == 21
    images = fixture.root / "VOCdevkit" / "VOC2012" / "JPEGImages"
    written = predict_main()([f"ckpt={run_dir / 'best.pt'}", f"input={images}/2008_*.jpg", f"output={tmp_path / 'out'}",
                              "overlay=true"])  # fmt: skip
    assert sorted(path.name for path in written) == sorted(
        f"{image_id}{suffix}.png" for image_id in fixture.val_ids for suffix in ("", "_overlay")
    )
    for image_id in fixture.val_ids:
        with Image.open(images / f"{image_id}.jpg") as picture:
            picture.load()
            expected = independent_mask(run_dir, picture)
        with Image.open(tmp_path / "out" / f"{image_id}.png") as mask:
            assert mask.mode == "P" and mask.size == (40, 30)
            assert mask.getpalette()[3:6] == [128, 0, 0]
            np.testing.assert_array_equal(np.asarray(mask), expected)
        assert np.array_equal(loaded.predict_mask(Image.open(images / f"{image_id}.jpg")), expected)
        with Image.open(tmp_path / "out" / f"{image_id}_overlay.png") as overlay:
            assert overlay.mode == "RGB" and overlay.size == (40, 30)


def test_an_old_checkpoint_is_read_through_its_run_directory(voc_run, tmp_path):
    fixture, run_dir = voc_run
    checkpoint = load_checkpoint(run_dir / "best.pt")
    old = {key: value for key, value in checkpoint.items() if key not in ("config", "choices", "inference")}
    torch.save(old, run_dir / "old.pt")
    picture = Image.open(fixture.root / "VOCdevkit" / "VOC2012" / "JPEGImages" / f"{fixture.val_ids[0]}.jpg")
    again = pixeldcn.load_model(run_dir / "old.pt")
    np.testing.assert_array_equal(again.predict_mask(picture), independent_mask(run_dir, picture))
    alone = tmp_path / "alone"
    alone.mkdir()
    torch.save(old, alone / "best.pt")
    with pytest.raises(pixeldcn.config.ConfigError, match="holds no configuration"):
        pixeldcn.load_model(alone)


def test_predict_py_reports_bad_input_in_one_line(voc_run, tmp_path):
    _, run_dir = voc_run
    result = subprocess.run(
        [sys.executable, str(PREDICT_SCRIPT), f"ckpt={run_dir}", f"input={tmp_path / 'nothing'}/*.jpg"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1 and "names no image files" in result.stderr and "Traceback" not in result.stderr


def test_a_generation_checkpoint_samples_and_reconstructs(run_train, tmp_path):
    run_dir = run_train(tmp_path / "vae", "model=vae", "dataset=synthetic_faces", *QUIET_SMOKE)
    loaded = pixeldcn.load_model(run_dir)
    assert loaded.task == "generation" and loaded.class_names is None
    size = loaded.preprocess.image_size
    main = predict_main()
    samples = main([f"ckpt={run_dir}", f"output={tmp_path / 'samples'}", "num_samples=3", "seed=5"])
    assert [path.name for path in samples] == ["sample_000.png", "sample_001.png", "sample_002.png"]
    # The files are the model's own prior samples for that seed, as 8-bit pictures.
    expected = loaded.model.sample(3, generator=torch.Generator().manual_seed(5)).clamp(0, 1)
    for path, image in zip(samples, expected):
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255
        assert pixels.shape == (size, size, 3)
        np.testing.assert_allclose(pixels, image.expand(3, -1, -1).permute(1, 2, 0).numpy(), atol=0.5 / 255 + 1e-6)
    Image.fromarray(np.full((20, 24, 3), 128, dtype=np.uint8)).save(tmp_path / "grey.png")
    (reconstruction,) = main([f"ckpt={run_dir}", f"input={tmp_path / 'grey.png'}", f"output={tmp_path / 'recon'}"])
    assert reconstruction.name == "grey_reconstruction.png" and Image.open(reconstruction).size == (size, size)
