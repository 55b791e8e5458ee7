"""The configuration a run continues with, and whether a checkpoint was trained with the configured network.

``resume=<run dir>`` rebuilds the run's saved configuration from its ``.hydra/`` directory; a
checkpoint evaluated with ``mode=eval`` must come from the same model and up-sampler settings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError

from pixeldcn.config.errors import ConfigError
from pixeldcn.engine.checkpoint import LAST_CHECKPOINT

log = logging.getLogger(__name__)

HYDRA_DIR = ".hydra"


def hydra_choices() -> dict[str, str | None]:
    """The config group choices of the current Hydra job (empty outside one, e.g. with ``compose``)."""
    if not HydraConfig.initialized():
        return {}
    return dict(HydraConfig.get().runtime.choices)


def run_directory(cfg: DictConfig) -> Path:
    """The directory the run of ``cfg`` writes into: Hydra's job directory, or with ``resume=`` that run's."""
    return Path(cfg.paths.output_dir) if cfg.resume is None else Path(cfg.resume)


def job_config(cfg: DictConfig) -> tuple[DictConfig, dict[str, str | None], Path]:
    """The configuration to run, its group choices and its run directory.

    That is ``cfg`` itself, or with ``resume=<run dir>`` the saved configuration of that run
    (see :func:`resumed_config`), which keeps writing into its directory.
    """
    if cfg.resume is None:
        return cfg, hydra_choices(), run_directory(cfg)
    run_dir = run_directory(cfg)
    saved, choices = resumed_config(run_dir)
    return saved, choices, run_dir


def resumed_config(run_dir: Path) -> tuple[DictConfig, dict[str, str | None]]:
    """The saved configuration of the run in ``run_dir`` and its group choices.

    Plain value overrides typed with ``resume=`` (e.g. ``trainer.max_epochs=20``) are applied to
    it; overrides of ``hydra.*`` only steer Hydra. Changing a config group (``dataset=voc``) would
    make a different run, so it is an error.
    """
    config_file = run_dir / HYDRA_DIR / "config.yaml"
    for required in (config_file, run_dir / LAST_CHECKPOINT):
        if not required.is_file():
            raise ConfigError(
                f"resume={run_dir} is not a run directory to continue: {required} is missing "
                f"(a run writes {HYDRA_DIR}/config.yaml when it starts and {LAST_CHECKPOINT} after its first epoch, "
                "unless checkpoint.save_last=false, as with debug=smoke)"
            )
    saved = OmegaConf.load(config_file)
    hydra_file = run_dir / HYDRA_DIR / "hydra.yaml"
    choices = dict(OmegaConf.load(hydra_file).hydra.runtime.choices) if hydra_file.is_file() else {}
    typed = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    groups = {name.split("@")[0] for name in hydra_choices()}
    OmegaConf.set_struct(saved, True)
    applied = []
    for override in OverridesParser.create().parse_overrides(typed):
        key = override.key_or_group
        if key in ("resume", "hydra") or key.startswith("hydra."):
            continue
        if override.is_delete() or key in groups or override.package is not None:
            raise ConfigError(
                f"resume keeps the saved configuration of {run_dir}; `{override.input_line}` would change "
                "a config group or delete a key: start a new run instead"
            )
        try:
            adds = override.is_add() or override.is_force_add()
            OmegaConf.update(saved, key, override.value(), merge=True, force_add=adds)
        except ConfigKeyError:
            raise ConfigError(f"`{override.input_line}`: {run_dir} has no setting {key} to override") from None
        applied.append(override.input_line)
    saved.resume = str(run_dir)
    log.info("resuming %s from %s%s", run_dir, LAST_CHECKPOINT, f" with {' '.join(applied)}" if applied else "")
    return saved, choices


def check_checkpoint_matches(cfg: DictConfig, checkpoint: Mapping[str, Any], path: str) -> None:
    """Raise :class:`ConfigError` when the checkpoint's model or up-sampler config differs from ``cfg``'s."""
    saved = checkpoint.get("config") or {}
    differences = []
    for section in ("model", "upsampler"):
        current = OmegaConf.to_container(cfg[section], resolve=True)
        before = saved.get(section, {})
        for key in sorted(set(current) | set(before)):
            if current.get(key) != before.get(key):
                differences.append(f"{section}.{key}={before.get(key)}")
    if differences:
        groups = checkpoint.get("choices") or {}
        hint = " ".join(f"{group}={groups[group]}" for group in ("model", "upsampler") if groups.get(group))
        raise ConfigError(
            f"{path} was trained with a different network ({', '.join(differences)}); "
            f"pass the overrides of its run{f' (e.g. {hint})' if hint else ''}"
        )
