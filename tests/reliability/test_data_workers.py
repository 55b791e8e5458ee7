"""File datasets read by DataLoader workers behave as in the main process: the same augmentation,
the same one-line errors, the same skip counts; a run resumed mid-epoch with workers and
augmentation ends with the weights of a run that never stopped."""

from __future__ import annotations

import json
import signal

import pytest
import torch
from conftest import QUIET_SMOKE, run_train_subprocess
from data.conftest import write_voc_fixture
from torch.utils.data import DataLoader

from pixeldcn.data import VOCSegmentation
from pixeldcn.data.validation import BadSampleError, skipped_count
from pixeldcn.engine import load_checkpoint
from reliability.test_bad_data import train_file, truncate
from reliability.test_interrupt_resume import assert_same_state, signal_self_at_loss_call

AUGMENTED = ["dataset.augment=true", "dataset.scale_range=[0.5,2.0]"]


@pytest.fixture
def voc(tmp_path):
    return write_voc_fixture(tmp_path / "voc", n_train=6, n_val=2, size=(40, 30))


def read_all(dataset, num_workers: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every item in index order, through a DataLoader with ``num_workers`` worker processes."""
    loader = DataLoader(dataset, batch_size=1, shuffle=False, num_workers=num_workers)
    return [(image[0], mask[0]) for image, mask in loader]


def same_items(a, b) -> bool:
    return all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True))


def test_augmentation_depends_only_on_seed_epoch_and_index(voc):
    dataset = VOCSegmentation(voc.root, "train", image_size=32, augment=True, scale_range=(0.5, 2.0))
    dataset.set_epoch(3, seed=7)
    torch.manual_seed(0)
    in_main = [dataset[index] for index in range(len(dataset))]
    torch.manual_seed(1)  # the global generators play no part
    assert same_items(in_main, [dataset[index] for index in range(len(dataset))])
    assert same_items(in_main, read_all(dataset, num_workers=2))  # workers draw the same
    dataset.set_epoch(4, seed=7)
    next_epoch = [dataset[index] for index in range(len(dataset))]
    assert sum(not torch.equal(a[1], b[1]) for a, b in zip(in_main, next_epoch)) >= 3  # another epoch, others
    dataset.set_epoch(3, seed=8)
    assert not same_items(in_main, [dataset[index] for index in range(len(dataset))])  # another seed, others


@pytest.mark.slow
def test_sigterm_mid_epoch_with_workers_and_augmentation_resumes_to_the_same_weights(
    run_train, tmp_path, voc, monkeypatch
):
    # 2 epochs of 6 steps of one augmented image, read by 2 workers; stopped at the 3rd step of epoch 2.
    overrides = [*QUIET_SMOKE, "dataset=voc", f"dataset.root={voc.root}", *AUGMENTED]
    overrides += ["trainer.batch_size=1", "trainer.limit_train_batches=null", "trainer.num_workers=2"]
    straight = run_train(tmp_path / "straight", *overrides)
    signal_self_at_loss_call(monkeypatch, signal.SIGTERM, call=9)
    interrupted = tmp_path / "interrupted"
    with pytest.raises(SystemExit) as exit_info:
        run_train(interrupted, *overrides)
    assert exit_info.value.code == 143
    assert load_checkpoint(interrupted / "last.pt")["step"] == 9
    monkeypatch.undo()
    run_train(None, f"resume={interrupted}")
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(interrupted / "last.pt")
    assert a["step"] == b["step"] == 12
    assert_same_state(a["model"], b["model"])


def test_a_bad_file_read_by_a_worker_is_the_same_one_line_error(voc):
    bad = train_file(voc, voc.train_ids[2], "image")
    truncate(bad)
    dataset = VOCSegmentation(voc.root, "train", image_size=32)
    with pytest.raises(BadSampleError) as in_main:
        dataset[2]
    with pytest.raises(BadSampleError) as in_worker:
        read_all(dataset, num_workers=2)
    assert str(in_worker.value) == str(in_main.value)
    assert str(in_main.value).startswith(f"unreadable or truncated image {bad}") and "\n" not in str(in_main.value)


def test_a_run_with_workers_stops_on_a_bad_image_in_one_line(run_train, tmp_path, voc):
    bad = train_file(voc, voc.train_ids[0], "image")
    truncate(bad)
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_train(run_dir, *QUIET_SMOKE, "dataset=voc", f"dataset.root={voc.root}", "trainer.num_workers=2")
    assert exit_info.value.code == 1
    log = (run_dir / "train.log").read_text()
    error_line = next(line for line in log.splitlines() if "ERROR" in line)
    assert f"unreadable or truncated image {bad}" in error_line
    assert log.rstrip().endswith(error_line)  # nothing after the one line: no worker traceback
    assert "Traceback" not in log and "DataLoader worker" not in log


def test_samples_skipped_in_workers_are_counted(voc):
    truncate(train_file(voc, voc.train_ids[1], "image"))
    truncate(train_file(voc, voc.train_ids[4], "mask"))
    dataset = VOCSegmentation(voc.root, "train", image_size=32, on_error="skip")
    assert len(read_all(dataset, num_workers=2)) == 6
    assert skipped_count(dataset) == 2  # counted in the main process, though the workers skipped them
    read_all(dataset, num_workers=2)
    assert skipped_count(dataset) == 2  # once per file


def test_a_run_with_workers_logs_and_records_the_skipped_count_every_epoch(run_train, tmp_path, voc):
    truncate(train_file(voc, voc.train_ids[0], "image"))
    overrides = ["dataset=voc", f"dataset.root={voc.root}", "dataset.on_error=skip", "trainer.num_workers=2"]
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE, *overrides, "trainer.limit_train_batches=null")
    log = (run_dir / "train.log").read_text()
    assert log.count("1 unreadable training samples skipped so far (dataset.on_error=skip)") == 2
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert [entry["skipped_samples"] for entry in history] == [{"train": 1, "val": 0}] * 2


@pytest.mark.slow
def test_a_sweep_job_stopped_by_a_bad_image_in_a_worker_reports_one_line_and_exits_1(tmp_path, voc):
    bad = train_file(voc, voc.train_ids[0], "image")
    truncate(bad)
    sweep = tmp_path / "sweep"
    args = ["-m", *QUIET_SMOKE, "dataset=voc", f"dataset.root={voc.root}", "trainer.num_workers=2", "seed=0,1"]
    result = run_train_subprocess(*args, f"hydra.sweep.dir={sweep}")
    assert result.returncode == 1
    assert result.stdout.count(f"ERROR] - unreadable or truncated image {bad}") == 2  # both jobs ran and failed
    assert "Traceback" not in result.stdout + result.stderr and "DataLoader worker" not in result.stderr
    assert f"unreadable or truncated image {bad}" in result.stderr.splitlines()[1]  # after Hydra's job line
