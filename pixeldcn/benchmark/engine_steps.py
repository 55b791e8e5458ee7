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

from pixeldcn import build as builders
from pixeldcn.engine.loop import Trainer
from pixeldcn.utils.timing import resolve_device


@dataclass
class EngineStep:
    """One configuration ready to time.

    Attributes:
        model: the plain model (what evaluation and checkpoints use).
        trainer: the engine, configured by ``cfg.trainer`` and ``cfg.eval``.
        optimizer: ``cfg.trainer.optimizer`` over the model's parameters.
        train: ``trainer.train_step`` on the fixed batch through the training model (compiled when
            configured): forward, the task's loss, the scaled backward pass, the optimizer update.
        predict: ``trainer.evaluate_step`` of the fixed batch with the plain model, as evaluation runs it.
        eager_train: the same training step through the plain model, for counting operations.
    """

    model: nn.Module
    trainer: Trainer
    optimizer: torch.optim.Optimizer
    train: Callable[[], object]
    predict: Callable[[], object]
    eager_train: Callable[[], object]


def build(cfg: DictConfig, dataset: Any, run_dir: Path, batch: Any) -> EngineStep:
    """Build ``cfg``'s task, model, optimizer and trainer around ``dataset``, and time-able calls on ``batch``."""
    device = resolve_device(cfg.trainer.device)
    task = builders.build_task(cfg, dataset)
    model = builders.build_model(cfg, task, dataset)
    optimizer = builders.build_optimizer(cfg, model)
    trainer = builders.build_trainer(cfg, run_dir, device, callbacks=[])
    step_model = trainer.training_model(model)
    batch = trainer.prepare_batch(batch)

    def train_through(network: nn.Module) -> Callable[[], object]:
        def step() -> object:
            network.train()
            return trainer.train_step(network, task, optimizer, batch)

        return step

    def predict() -> None:
        model.eval()
        trainer.evaluate_step(model, task, batch, task.new_state())

    return EngineStep(model, trainer, optimizer, train_through(step_model), predict, train_through(model))
