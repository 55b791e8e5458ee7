"""The engine's training step and prediction for one composed configuration, as calls to time.

Everything is built by the builders ``train.py`` uses (model, task, optimizer, trainer), and the
calls are the trainer's own, so a timing covers what training runs: the task's loss, autocast and
the fp16 gradient scaler, the configured optimizer, channels-last and compile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from pixeldcn import run as runner
from pixeldcn.engine.loop import Trainer, to_device
from pixeldcn.utils.timing import resolve_device


@dataclass
class EngineStep:
    """One configuration ready to time.

    Attributes:
        model: the plain model (what evaluation and checkpoints use).
        trainer: the engine, configured by ``cfg.trainer``.
        optimizer: ``cfg.trainer.optimizer`` over the model's parameters.
        train: one training step of the trainer on the fixed batch (forward, loss, backward, update).
        predict: the trainer's prediction of the fixed batch.
        eager_train / eager_predict: the same through the eager model, for counting operations.
    """

    model: nn.Module
    trainer: Trainer
    optimizer: torch.optim.Optimizer
    train: Callable[[], object]
    predict: Callable[[], object]
    eager_train: Callable[[], object]
    eager_predict: Callable[[], object]


def build(cfg: DictConfig, dataset: Any, run_dir: Path, batch: Any) -> EngineStep:
    """Build ``cfg``'s model, task, optimizer and trainer around ``dataset`` and time-able calls on ``batch``."""
    device = resolve_device(cfg.trainer.device)
    task = runner.build_task(cfg, dataset)
    model = runner.build_model(cfg, task, dataset)
    optimizer = runner.build_optimizer(cfg, model)
    trainer = runner.build_trainer(cfg, run_dir, device, run_info={}, choices={})
    settings = trainer.step_settings
    settings.prepare_model(model.to(device))
    train_model = settings.compiled(model)
    batch = settings.prepare_batch(to_device(batch, device))

    def train_through(network: nn.Module) -> Callable[[], object]:
        def step() -> object:
            network.train()
            return trainer._train_step(network, task, optimizer, None, batch)

        return step

    @torch.no_grad()
    def predict() -> None:
        model.eval()
        with settings.autocast():
            task.evaluate_batch(model, batch, task.new_state())

    return EngineStep(model, trainer, optimizer, train_through(train_model), predict, train_through(model), predict)
