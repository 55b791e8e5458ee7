"""The task-agnostic training engine: loop, checkpoints, timing, seeds and run outputs."""

from pixeldcn.engine.checkpoint import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from pixeldcn.engine.loop import EpochSampler, EvalResult, FitResult, Trainer
from pixeldcn.engine.seed import configure_determinism, get_rng_state, seed_everything, set_rng_state

__all__ = [
    "BEST_CHECKPOINT",
    "LAST_CHECKPOINT",
    "CheckpointError",
    "EpochSampler",
    "EvalResult",
    "FitResult",
    "Trainer",
    "configure_determinism",
    "get_rng_state",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
]
