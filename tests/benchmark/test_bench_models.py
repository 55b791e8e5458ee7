"""The model benchmark times the trainer's own step on configs composed like train.py's; its
summary arithmetic is checked on fake timing rows with known medians and ratios."""

import json

import pytest
import torch
from conftest import CONFIG_DIR, load_script

from pixeldcn.benchmark.models import Setup, SyntheticImages, Workload, run, summarize, to_markdown
from pixeldcn.engine.loop import Trainer
from pixeldcn.tasks.generation import GenerationTask
from pixeldcn.tasks.segmentation import SegmentationTask

pytestmark = pytest.mark.usefixtures("single_thread")
TINY = Setup(model="unet", width=4, size=32, batch_size=2)


def test_summary_of_fake_timing_rows():
    samples = {
        "deconv6": {"train": [6.0, 4.0, 5.0], "predict": [1.0, 3.0, 2.0]},
        "deconv": {"train": [2.0, 2.5, 1.0], "predict": [4.0, 4.0, 4.0]},
        "pixeldcl": {"train": [3.0, 9.0, 3.0], "predict": [2.0, 2.0, 2.0]},
    }
    facts = {
        name: {"macs_per_image": macs, "train_flops": 6e9, "predict_flops": 2e9, "parameters": 1}
        for name, macs in [("deconv6", 40), ("deconv", 10), ("pixeldcl", 30)]
    }
    rows = summarize(samples, facts, batch_size=4, workload=Workload(100, 10), peak_gflops=4.0)
    pixeldcl = rows["pixeldcl"]
    assert pixeldcl["train_seconds_per_iter"] == 3.0 and pixeldcl["train_seconds_range"] == [3.0, 9.0]
    assert pixeldcl["train_vs_deconv6"] == 0.6  # 3 / 5
    assert pixeldcl["predict_vs_deconv6"] == 1.0  # 2 / 2
    assert pixeldcl["train_vs_deconv"] == 1.5  # 3 / 2
    assert pixeldcl["predict_vs_deconv"] == 0.5  # 2 / 4
    assert pixeldcl["macs_vs_deconv6"] == 0.75 and rows["deconv"]["macs_vs_deconv6"] == 0.25
    assert pixeldcl["train_seconds_extrapolated"] == 300.0  # 100 iterations
    assert pixeldcl["predict_seconds_extrapolated"] == 6.0  # ceil(10 / 4) = 3 batches
    assert pixeldcl["predict_images_per_second"] == 2.0
    assert pixeldcl["train_gflops_per_s"] == 2.0 and pixeldcl["train_percent_of_peak"] == 50.0
    assert rows["deconv6"]["predict_gflops_per_s"] == 1.0
    # Round by round: 3/6, 9/4, 3/5; three rounds are too few for a 95 % interval of the median.
    assert pixeldcl["train_vs_deconv6_paired"] == {"median": 0.6, "interval": None, "rounds": 3}
    assert pixeldcl["predict_vs_deconv_paired"]["median"] == 0.5
    assert "train_vs_deconv6_paired" not in rows["deconv6"] and "train_vs_deconv_paired" in rows["deconv6"]


def test_stand_in_batches_have_the_datasets_shape_and_ignored_pixels():
    images, masks = SyntheticImages(16, num_classes=5).batch(3, torch.Generator().manual_seed(0))
    assert images.shape == (3, 3, 16, 16) and masks.shape == (3, 16, 16)
    assert 0 <= images.min() and images.max() <= 1
    assert set(masks.unique().tolist()) == {0, 1, 2, 3, 4, 255}


def test_the_timed_step_is_the_trainers_with_the_tasks_loss_and_the_configured_optimizer(monkeypatch):
    calls = {"train_step": 0, "loss": 0, "optimizer": set()}
    real_step, real_loss = Trainer.train_step, SegmentationTask.loss

    def counted_step(self, model, task, optimizer, *args, **kwargs):
        calls["train_step"] += 1
        calls["optimizer"].add(type(optimizer).__name__)
        return real_step(self, model, task, optimizer, *args, **kwargs)

    def counted_loss(self, model, batch):
        calls["loss"] += 1
        return real_loss(self, model, batch)

    monkeypatch.setattr(Trainer, "train_step", counted_step)
    monkeypatch.setattr(SegmentationTask, "loss", counted_loss)
    sgd = ["trainer.optimizer._target_=torch.optim.SGD"]
    before = torch.are_deterministic_algorithms_enabled()
    report = run(CONFIG_DIR, TINY, ["deconv6", "deconv"], torch.device("cpu"), iters=2, warmup=1,
                 matmul_size=32, extra_overrides=sgd, progress=False)  # fmt: skip
    # Per up-sampler: one step counting its FLOPs, one per round (1 warm-up + 2 timed), then three
    # with its up-samplers clocked.
    assert calls["train_step"] == calls["loss"] == 2 * (1 + 1 + 2 + 3)
    assert calls["optimizer"] == {"SGD"} and report["optimizer"]["_target_"] == "torch.optim.SGD"
    # Kernels chosen as train.py chooses them (trainer.deterministic=auto: deterministic on the CPU), then put back.
    assert report["deterministic"] is True and torch.are_deterministic_algorithms_enabled() == before
    rows = report["results"]
    assert rows["deconv6"]["train_vs_deconv6"] == 1.0
    assert rows["deconv6"]["macs_per_image"] > rows["deconv"]["macs_per_image"]
    for row in rows.values():
        assert row["train_seconds_extrapolated"] == pytest.approx(10_000 * row["train_seconds_per_iter"])
        # Training runs the forward and a backward of about twice its cost.
        assert row["train_flops"] > 2 * row["predict_flops"]
    assert report["setup"] | {"size": 32, "batch_size": 2, "width": 4} == report["setup"]
    table = to_markdown(report)
    assert "paper train / DCL" in table and "| deconv |" in table and "float32 torch.mm" in table
    assert "not enough rounds for an interval" in table  # a handful of rounds gives no interval


def test_the_vae_trains_through_the_generation_task(monkeypatch):
    calls = []
    real_loss = GenerationTask.loss
    monkeypatch.setattr(
        GenerationTask, "loss", lambda self, model, batch: calls.append(1) or real_loss(self, model, batch)
    )
    report = run(CONFIG_DIR, Setup(model="vae", width=4, size=16, batch_size=2), ["deconv6", "deconv"],
                 torch.device("cpu"), iters=1, warmup=0, matmul_size=32, progress=False)  # fmt: skip
    assert len(calls) == 2 * (2 + 3) and report["setup"]["size"] == 16
    assert all(row["upsamplers_in_training_step"]["layers"] > 0 for row in report["results"].values())
    skipped = run(CONFIG_DIR, Setup(model="vae", width=4, size=16, batch_size=2), ["deconv"], torch.device("cpu"),
                  iters=1, warmup=0, matmul_size=32, progress=False, share_rounds=0)  # fmt: skip
    assert len(calls) == 2 * (2 + 3) + 2  # deconv's FLOPs step and one round, no clocked steps
    assert not any("upsamplers_in_training_step" in row for row in skipped["results"].values())


def test_unknown_upsampler_is_rejected_before_any_work():
    with pytest.raises(ValueError, match="valid names"):
        run(CONFIG_DIR, Setup(), ["deconv6", "nope"], torch.device("cpu"))


def test_script_times_the_trainer_and_writes_json_and_markdown(tmp_path):
    script = load_script("benchmark")
    stem = script.main(["--device", "cpu", "--model", "unet", "--width", "4", "--size", "32", "--batch-size", "2",
                        "--iters", "1", "--warmup", "0", "--matmul-size", "32", "--names", "pixeldcl",
                        "--out-dir", str(tmp_path)])  # fmt: skip
    assert stem.name.startswith("unet_cpu_w4_s32_b2_p32")
    markdown = stem.with_suffix(".md").read_text()
    assert stem.with_suffix(".json").is_file() and "| pixeldcl |" in markdown
    # Every model's four decoder up-samplers timed inside three further training steps.
    results = json.loads(stem.with_suffix(".json").read_text())["results"]
    for name in ("deconv6", "deconv", "pixeldcl"):
        share = results[name]["upsamplers_in_training_step"]
        assert share["layers"] == 4 and share["steps"] == 3
        assert 0 < share["upsampler_forward_seconds"] and 0 < share["upsampler_backward_seconds"]
        assert 0 < share["rest_seconds"] < share["step_seconds"] and 0 < share["upsampler_share"] < 1
    assert "The up-samplers inside the training step: 3 more steps" in markdown
