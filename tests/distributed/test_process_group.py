"""Collective decisions in a process group of two Gloo processes on the CPU, with a deadline instead of a hang.

* A loss that is NaN on one process only: both skip (or stop) together. DDP all-reduces gradients
  during the backward pass, so a process that left out its backward would leave the other waiting.
* ``main_process_first``: rank 0 finishes what it prepares before the other rank starts.
"""

from __future__ import annotations

import json
import math
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from pixeldcn.engine import Trainer, TrainerSettings, distributed
from pixeldcn.engine.loop import NonFiniteLossError

DEADLINE_S = 120


def _in_process_group(rank: int, port: int, body: Callable[..., dict], out_dir: str, *args: object) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(body(rank, out_dir, *args)))
    finally:
        dist.destroy_process_group()


def on_two_processes(body: Callable[..., dict], out_dir: Path, *args: object) -> list[dict]:
    """What ``body(rank, out_dir, *args)`` returns on ranks 0 and 1 of one process group."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = mp.start_processes(
        _in_process_group, args=(port, body, str(out_dir), *args), nprocs=2, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + DEADLINE_S
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the two processes still run after {DEADLINE_S} s: one waits for the other")
    return [json.loads((out_dir / f"rank{rank}.json").read_text()) for rank in range(2)]


class NanLossOnRankOne:
    """The mean output as the loss; NaN on rank 1."""

    def loss(self, model: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss = model(batch).mean()
        return (loss * math.nan if dist.get_rank() == 1 else loss), {}


def _one_training_step(rank: int, out_dir: str, policy: str) -> dict:
    torch.manual_seed(0)
    device = torch.device("cpu")
    model = distributed.wrap_model(nn.Conv2d(3, 2, 1), device)
    before = [parameter.detach().clone() for parameter in model.parameters()]
    trainer = Trainer(out_dir, TrainerSettings(max_epochs=1, batch_size=2, on_nonfinite_loss=policy), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    try:
        logs = trainer.train_step(model, NanLossOnRankOne(), optimizer, torch.ones(2, 3, 4, 4))
        outcome = "stepped" if logs else "skipped"
    except NonFiniteLossError:
        outcome = "stopped"
    return {"outcome": outcome, "unchanged": all(torch.equal(a, b) for a, b in zip(before, model.parameters()))}


@pytest.mark.slow
@pytest.mark.parametrize(("policy", "outcome"), [("skip", "skipped"), ("stop", "stopped")])
def test_a_loss_non_finite_on_one_process_only_is_handled_by_both(tmp_path: Path, policy: str, outcome: str) -> None:
    results = on_two_processes(_one_training_step, tmp_path, policy)
    assert results == [{"outcome": outcome, "unchanged": True}] * 2


def _prepare_once(rank: int, out_dir: str) -> dict:
    prepared = Path(out_dir, "prepared.txt")
    with distributed.main_process_first():
        found = prepared.read_text() if prepared.exists() else None
        if rank == 0:
            time.sleep(1.0)  # rank 1, were it not held back, would look meanwhile
            prepared.write_text("by rank 0")
    return {"found": found}


@pytest.mark.slow
def test_main_process_first_lets_the_other_ranks_read_what_rank_0_prepared(tmp_path: Path) -> None:
    assert on_two_processes(_prepare_once, tmp_path) == [{"found": None}, {"found": "by rank 0"}]
