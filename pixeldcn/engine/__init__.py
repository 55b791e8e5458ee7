"""The task-agnostic training engine: loop, settings, checkpoints, timing, seeds and run outputs.

The names below are imported on first use (PEP 562), so that importing one light module such as
:mod:`pixeldcn.engine.settings` (the config schema does, before Hydra answers ``--help``) does not
load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BEST_CHECKPOINT": "checkpoint",
    "LAST_CHECKPOINT": "checkpoint",
    "CheckpointError": "checkpoint",
    "TrainingState": "checkpoint",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "EpochSampler": "loop",
    "EvalResult": "loop",
    "FitResult": "loop",
    "NonFiniteLossError": "loop",
    "Trainer": "loop",
    "configure_determinism": "seed",
    "get_rng_state": "seed",
    "seed_everything": "seed",
    "set_rng_state": "seed",
    "EvalSettings": "settings",
    "TrainerSettings": "settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
