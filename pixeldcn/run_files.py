"""The file names of a run directory, shared by what writes a run and what reads it.

A module of constants only (it imports nothing), so that reports can name a run's files without
importing the training engine.
"""

METRICS_FILE = "metrics.json"
"""``run`` (what ran: group choices, mode, seed), ``final`` (the evaluation; null until it exists),
``best`` and ``history`` (one entry per validated epoch)."""
TIMING_FILE = "timing.json"
"""Device, versions, settings, and the ``train`` / ``predict`` times (``train`` null for mode=eval)."""
STATUS_FILE = "status.json"
"""Optional: ``{"status": "running" | "finished" | "failed" | "interrupted", ...}``."""
SWEEP_STATUS_FILE = "job_status.json"
"""Written by the sweep summary callback in each ``-m`` job: ``{"status": "completed" | "failed", "error"}``."""
HYDRA_DIR = ".hydra"
CONFIG_FILE = f"{HYDRA_DIR}/config.yaml"
"""The composed configuration, as Hydra saved it (interpolations unresolved)."""
HYDRA_FILE = f"{HYDRA_DIR}/hydra.yaml"
"""Hydra's own node; ``hydra.runtime.choices`` are the run's config group choices."""
IMAGES_DIR = "images"
LOCK_FILE = ".run.lock"
"""Held (``flock``) while a run owns the directory; holds the owner's pid and host (:mod:`pixeldcn.run_lock`)."""
