"""mode=eval rebuilds its run from the checkpoint: a sweep job's best.pt needs no other override."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from conftest import QUIET_SMOKE
from data.conftest import write_voc_fixture
from omegaconf import OmegaConf

RESULT_KEYS = ("pixel_acc", "mean_iou", "per_class_iou", "mean_class_acc", "num_images", "epoch")
SAFE_NAME = re.compile(r"[A-Za-z0-9_.+-]+")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def printed_run_dir(log_file: Path) -> str:
    """The path the run printed as its run directory (the last such line of its log)."""
    return re.findall(r"run directory: (\S+)", log_file.read_text())[-1]


def test_a_sweep_jobs_checkpoint_evaluates_with_no_other_override(run_train, tmp_path):
    sweep = tmp_path / "sweep"
    run_train(None, "-m", f"hydra.sweep.dir={sweep}", *QUIET_SMOKE, "upsampler=deconv,ipixeldcl", "seed=3")
    jobs = sorted(path for path in sweep.iterdir() if path.is_dir())
    assert [job.name for job in jobs] == [
        f"{number}_checkpoint.save_last-True+checkpoint.save_top_k-1+debug-smoke+seed-3+trainer.progress_bar-False"
        f"+upsampler-{upsampler}"
        for number, upsampler in ((0, "deconv"), (1, "ipixeldcl"))
    ]
    assert all(SAFE_NAME.fullmatch(job.name) for job in jobs)
    for job, upsampler in zip(jobs, ("deconv", "ipixeldcl")):
        # The path as printed, pasted back unquoted into a command line that shlex splits as a shell would.
        command = f"mode=eval ckpt_path={printed_run_dir(job / 'train.log')}/best.pt"
        evaluated = run_train(tmp_path / f"eval_{upsampler}", *shlex.split(command))
        trained, again = read_json(job / "metrics.json"), read_json(evaluated / "metrics.json")
        for key in RESULT_KEYS:
            assert again["final"][key] == trained["final"][key], key
        assert again["run"]["upsampler"] == upsampler and again["run"]["debug"] == "smoke"
        assert again["run"]["mode"] == "eval" and again["run"]["seed"] == 3
        assert again["final"]["checkpoint"] == str((job / "best.pt").resolve())
        settings = OmegaConf.load(evaluated / ".hydra" / "config.yaml")
        assert settings.mode == "eval" and settings.upsampler._args_ == [upsampler] and settings.seed == 3
        assert settings.dataset.image_size == 32 and settings.paths.output_dir == str(evaluated)
    summary = (sweep / "sweep_summary.csv").read_text()
    assert all(job.name in summary for job in jobs)


def test_overrides_still_apply_to_the_checkpoints_configuration(run_train, tmp_path):
    trained = run_train(tmp_path / "train", *QUIET_SMOKE, "upsampler=deconv")
    # A run directory is taken for its best.pt; the split is another one.
    on_train = run_train(tmp_path / "on_train", "mode=eval", f"ckpt_path={trained}", "eval.split=train")
    final = read_json(on_train / "metrics.json")["final"]
    assert final["split"] == "train" and final["checkpoint"] == str((trained / "best.pt").resolve())
    assert final["num_images"] == 4  # debug=smoke's eval.num_batches=2 of 2, from the checkpoint's config
    more = run_train(tmp_path / "more", "mode=eval", f"ckpt_path={trained}/best.pt", "eval.num_batches=3")
    assert read_json(more / "metrics.json")["final"]["num_images"] == 6
    # Retyping the run's own groups changes nothing; another network is refused by name.
    run_train(tmp_path / "same", *QUIET_SMOKE, "upsampler=deconv", "mode=eval", f"ckpt_path={trained}/best.pt")
    assert read_json(tmp_path / "same" / "metrics.json")["final"]["mean_iou"] == pytest.approx(
        read_json(trained / "metrics.json")["final"]["mean_iou"], abs=0
    )
    with pytest.raises(SystemExit):
        run_train(tmp_path / "other", "upsampler=pixeldcl", "mode=eval", f"ckpt_path={trained}/best.pt")
    log = (tmp_path / "other" / "train.log").read_text()
    assert "was trained with a different network" in log and "upsampler=deconv" in log
    with pytest.raises(SystemExit):
        run_train(tmp_path / "global", "experiment=demo", "mode=eval", f"ckpt_path={trained}/best.pt")
    assert "type the values you want instead" in (tmp_path / "global" / "train.log").read_text()
    with pytest.raises(SystemExit):
        run_train(tmp_path / "typo", "mode=eval", f"ckpt_path={trained}/best.pt", "+eval.nope=1")
    assert "eval.nope is not a setting" in (tmp_path / "typo" / "train.log").read_text()


def test_another_dataset_of_the_same_classes_and_one_of_other_classes(run_train, tmp_path):
    first, second = write_voc_fixture(tmp_path / "voc1", seed=0), write_voc_fixture(tmp_path / "voc2", seed=1)
    trained = run_train(tmp_path / "train", *QUIET_SMOKE, "dataset=voc", f"dataset.root={first.root}")
    # Hydra composes the command line before the checkpoint is read: a key of the dataset's own
    # config needs its group typed (the checkpoint's own choice, so nothing else changes).
    elsewhere = run_train(
        tmp_path / "elsewhere", "mode=eval", f"ckpt_path={trained}", "dataset=voc", f"dataset.root={second.root}"
    )
    final = read_json(elsewhere / "metrics.json")["final"]
    assert len(final["per_class_iou"]) == 21 and final["num_images"] == 2
    assert final["pixel_acc"] != read_json(trained / "metrics.json")["final"]["pixel_acc"]
    with pytest.raises(SystemExit):
        run_train(tmp_path / "shapes", "mode=eval", f"ckpt_path={trained}", "dataset=synthetic_shapes")
    log = (tmp_path / "shapes" / "train.log").read_text()
    assert "was trained on data with num_classes=21" in log and "evaluate it on the dataset of its run" in log
