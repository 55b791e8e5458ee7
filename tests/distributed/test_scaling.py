"""Sharding, state reduction, gradient accumulation, mixed precision and launcher checks in one process."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from pixeldcn.config.launchers import launcher_plugin_problem
from pixeldcn.engine import EpochSampler, Trainer, TrainerSettings, distributed
from pixeldcn.engine.batches import accumulation_groups
from pixeldcn.engine.precision import Precision
from pixeldcn.tasks.base import sum_attributes
from pixeldcn.tasks.segmentation import SegmentationTask

NUM_CLASSES = 3
LABELS = SimpleNamespace(
    num_classes=NUM_CLASSES,
    class_names=["background", "disc", "square"],
    palette=[(0, 0, 0), (255, 0, 0), (0, 255, 0)],
    ignore_index=255,
)


def segmentation_batch(size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(size, 3, 8, 8, generator=generator)
    masks = torch.randint(0, NUM_CLASSES, (size, 8, 8), generator=generator)
    return images, masks


def trainer(tmp_path: Path, **options) -> Trainer:
    return Trainer(tmp_path, TrainerSettings(max_epochs=1, batch_size=2, **options), device=torch.device("cpu"))


# ---------------------------------------------------------------------- sampler sharding


@pytest.mark.parametrize("num_samples", [10, 11])
def test_epoch_sampler_shares_are_disjoint_equal_and_cover_the_epoch_order(num_samples: int) -> None:
    whole = EpochSampler(num_samples, seed=3)
    whole.set_epoch(2)
    order = list(whole)
    shares = []
    for rank in range(2):
        sampler = EpochSampler(num_samples, seed=3, num_replicas=2, rank=rank)
        sampler.set_epoch(2)
        shares.append(list(sampler))
        assert len(sampler) == num_samples // 2
    assert shares[0] == order[0:10:2] and shares[1] == order[1:10:2]
    assert not set(shares[0]) & set(shares[1])


def test_epoch_sampler_skip_counts_within_the_share() -> None:
    sampler = EpochSampler(12, seed=0, num_replicas=3, rank=1)
    sampler.set_epoch(1)
    share = list(sampler)
    sampler.set_epoch(1, skip=2)
    assert list(sampler) == share[2:] and len(sampler) == 2


def test_epoch_sampler_rejects_a_rank_outside_the_world() -> None:
    with pytest.raises(ValueError, match="rank must be in"):
        EpochSampler(4, seed=0, num_replicas=2, rank=2)


def test_evaluation_shard_of_one_process_is_the_first_images() -> None:
    data = list(range(9))
    assert distributed.evaluation_shard(data) is data
    assert list(distributed.evaluation_shard(data, num_images=4)) == [0, 1, 2, 3]


def test_shared_run_dir_removes_only_this_rank_s_start_up_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rank0_dir = tmp_path / "20-00-00"
    monkeypatch.setattr(distributed, "broadcast_object", lambda value: str(rank0_dir))
    own = tmp_path / "20-00-01"
    (own / ".hydra").mkdir(parents=True)
    (own / "train.log").write_text("")
    assert distributed.shared_run_dir(own) == rank0_dir
    assert not own.exists()
    # A directory holding anything else (an earlier run's files) is never removed.
    (own / ".hydra").mkdir(parents=True)
    (own / "last.pt").write_bytes(b"")
    assert distributed.shared_run_dir(own) == rank0_dir
    assert (own / "last.pt").is_file()


# ---------------------------------------------------------------------- reduction


def test_segmentation_reduce_state_equals_accumulating_every_process_share() -> None:
    task = SegmentationTask(LABELS)
    model = nn.Conv2d(3, NUM_CLASSES, 3, padding=1)
    batch = segmentation_batch(4)
    # Two processes that evaluated the same batch: their sum is one state that saw it twice.
    reduced = task.reduce_state(task.new_state(), lambda tensor: tensor * 2)
    assert reduced.confusion.matrix.sum() == 0
    one = task.new_state()
    task.evaluate_batch(model, batch, one)
    reduced = task.reduce_state(one, lambda tensor: tensor * 2)
    twice = task.new_state()
    task.evaluate_batch(model, batch, twice)
    task.evaluate_batch(model, batch, twice)
    assert torch.equal(reduced.confusion.matrix, twice.confusion.matrix)
    assert reduced.checkerboard.count == twice.checkerboard.count == 8
    assert task.summarize(reduced) == task.summarize(twice)


def test_sum_attributes_keeps_integers_integers() -> None:
    meter = SimpleNamespace(count=3, energy=0.25)
    sum_attributes(meter, ("count", "energy"), lambda tensor: tensor * 3)
    assert meter.count == 9 and isinstance(meter.count, int)
    assert meter.energy == 0.75


def test_one_process_helpers_are_identities() -> None:
    tensor = torch.arange(3)
    assert distributed.all_reduce_sum(tensor) is tensor
    assert distributed.mean_over_ranks({"loss": 2.0}) == {"loss": 2.0}
    assert (distributed.rank(), distributed.world_size(), distributed.is_main_process()) == (0, 1, True)


# ---------------------------------------------------------------------- gradient accumulation


def test_accumulation_groups_weight_each_batch_by_its_group_size() -> None:
    groups = list(accumulation_groups(5, 2))
    assert groups == [(0.5, False), (0.5, True), (0.5, False), (0.5, True), (1.0, True)]
    assert list(accumulation_groups(2, 1)) == [(1.0, True), (1.0, True)]


def test_two_accumulated_half_batches_step_like_one_whole_batch(tmp_path: Path) -> None:
    task = SegmentationTask(LABELS)
    images, masks = segmentation_batch(4)
    torch.manual_seed(0)
    accumulated = nn.Conv2d(3, NUM_CLASSES, 3, padding=1)
    whole = nn.Conv2d(3, NUM_CLASSES, 3, padding=1)
    whole.load_state_dict(accumulated.state_dict())
    initial = whole.weight.detach().clone()
    engine = trainer(tmp_path, accumulate_grad_batches=2)

    optimizer = torch.optim.SGD(accumulated.parameters(), lr=0.5)
    first = engine.train_step(accumulated, task, optimizer, (images[:2], masks[:2]), loss_weight=0.5, update=False)
    assert all(parameter.grad is not None for parameter in accumulated.parameters())
    assert torch.equal(accumulated.weight, whole.weight)  # no step yet
    engine.train_step(accumulated, task, optimizer, (images[2:], masks[2:]), loss_weight=0.5, update=True)
    assert all(parameter.grad is None for parameter in accumulated.parameters())

    engine.train_step(whole, task, torch.optim.SGD(whole.parameters(), lr=0.5), (images, masks))
    assert not torch.equal(whole.weight, initial)
    for mine, reference in zip(accumulated.parameters(), whole.parameters()):
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-6)
    assert set(first) == {"loss", "pixel_acc"}


# ---------------------------------------------------------------------- precision and layout


def test_bf16_autocast_trains_a_step_on_the_cpu(tmp_path: Path) -> None:
    task = SegmentationTask(LABELS)
    model = nn.Conv2d(3, NUM_CLASSES, 3, padding=1)
    before = model.weight.detach().clone()
    output_dtypes = []
    model.register_forward_hook(lambda module, inputs, output: output_dtypes.append(output.dtype))
    engine = trainer(tmp_path, precision="bf16")
    logs = engine.train_step(model, task, torch.optim.SGD(model.parameters(), lr=0.1), segmentation_batch(2))
    assert output_dtypes == [torch.bfloat16]
    assert torch.isfinite(torch.tensor(logs["loss"]))
    assert model.weight.dtype == torch.float32 and not torch.equal(model.weight, before)


def test_precision_settings_are_checked() -> None:
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        Precision(cpu, "fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        Precision(cpu, "16")
    assert Precision(cpu, 32).precision == "32"  # YAML's `precision: 32` is an int
    assert not Precision(cpu).scaler.is_enabled()


def test_channels_last_converts_images_and_leaves_masks() -> None:
    settings = Precision(torch.device("cpu"), channels_last=True)
    images, masks = settings.prepare_batch(segmentation_batch(2))
    assert images.is_contiguous(memory_format=torch.channels_last)
    assert masks.is_contiguous()
    model = settings.prepare_model(nn.Conv2d(3, 4, 3))
    assert model.weight.is_contiguous(memory_format=torch.channels_last)


# ---------------------------------------------------------------------- launchers


def test_launcher_plugin_problem_names_the_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    assert launcher_plugin_problem(["hydra/launcher=joblib", "upsampler=deconv"]) is None
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    problem = launcher_plugin_problem(["hydra/launcher=submitit_slurm"])
    assert "hydra-submitit-launcher" in problem and ".[launchers]" in problem
    assert launcher_plugin_problem(["hydra/launcher=basic"]) is None
