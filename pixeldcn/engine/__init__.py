"""The task-agnostic training engine: loop, settings, checkpoints, timing, seeds and run outputs."""

from pixeldcn.engine.checkpoint import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    CheckpointError,
    TrainingState,
    load_checkpoint,
    save_checkpoint,
)
from pixeldcn.engine.loop import EpochSampler, EvalResult, FitResult, NonFiniteLossError, Trainer
from pixeldcn.engine.seed import configure_determinism, get_rng_state, seed_everything, set_rng_state
from pixeldcn.engine.settings import EvalSettings, TrainerSettings

__all__ = [
    "BEST_CHECKPOINT",
    "LAST_CHECKPOINT",
    "CheckpointError",
    "EpochSampler",
    "EvalResult",
    "EvalSettings",
    "FitResult",
    "NonFiniteLossError",
    "Trainer",
    "TrainerSettings",
    "TrainingState",
    "configure_determinism",
    "get_rng_state",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
]
