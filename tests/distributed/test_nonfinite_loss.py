"""A loss that is NaN on one process only: both processes skip (or stop) together instead of hanging.

DDP all-reduces gradients during the backward pass, so a process that left out its backward would
leave the other waiting forever. Two Gloo processes on the CPU, with a deadline instead of a hang.
"""

from __future__ import annotations

import json
import math
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from pixeldcn.engine import Trainer, distributed
from pixeldcn.engine.loop import NonFiniteLossError

DEADLINE_S = 120


class NanLossOnRankOne:
    """The mean output as the loss; NaN on rank 1."""

    def loss(self, model: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss = model(batch).mean()
        return (loss * math.nan if dist.get_rank() == 1 else loss), {}


def _one_step(rank: int, port: int, policy: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        device = torch.device("cpu")
        model = distributed.wrap_model(nn.Conv2d(3, 2, 1), device)
        before = [parameter.detach().clone() for parameter in model.parameters()]
        trainer = Trainer(out_dir, device=device, max_epochs=1, batch_size=2, on_nonfinite_loss=policy)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        try:
            logs = trainer._train_step(model, NanLossOnRankOne(), optimizer, None, torch.ones(2, 3, 4, 4))
            outcome = "stepped" if logs else "skipped"
        except NonFiniteLossError:
            outcome = "stopped"
        unchanged = all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps({"outcome": outcome, "unchanged": unchanged}))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize(("policy", "outcome"), [("skip", "skipped"), ("stop", "stopped")])
def test_a_loss_non_finite_on_one_process_only_is_handled_by_both(tmp_path: Path, policy: str, outcome: str) -> None:
    context = mp.start_processes(
        _one_step, args=(_free_port(), policy, str(tmp_path)), nprocs=2, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + DEADLINE_S
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the two processes still run after {DEADLINE_S} s: one waits for the other's gradients")
    results = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert results == [{"outcome": outcome, "unchanged": True}] * 2
