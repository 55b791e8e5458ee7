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

from pixeldcn.config.checkpoint_config import eval_config
from pixeldcn.config.errors import ConfigError
from pixeldcn.engine.checkpoint import LAST_CHECKPOINT, missing_hint

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

    That is ``cfg`` itself, with ``resume=<run dir>`` the saved configuration of that run (see
    :func:`resumed_config`), which keeps writing into its directory, or with ``mode=eval`` the
    configuration ``ckpt_path`` was trained with (see :func:`~pixeldcn.config.checkpoint_config.eval_config`).
    """
    if cfg.mode == "eval" and cfg.ckpt_path is not None and cfg.resume is None:
        saved, choices = eval_config(cfg)
        return saved, choices, Path(cfg.paths.output_dir)
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
            hint = missing_hint(required) if required.name == LAST_CHECKPOINT else ""
            raise ConfigError(
                f"resume={run_dir} is not a run directory to continue: {required} is missing "
                f"(a run writes {HYDRA_DIR}/config.yaml when it starts and {LAST_CHECKPOINT} after its first "
                f"epoch, unless checkpoint.save_last=false, as with debug=smoke){hint}"
            )
    saved = _load_saved(config_file, "trainer", "model", "dataset")
    hydra_file = run_dir / HYDRA_DIR / "hydra.yaml"
    choices = dict(_load_saved(hydra_file, "hydra").hydra.runtime.choices) if hydra_file.is_file() else {}
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


def _load_saved(path: Path, *sections: str) -> DictConfig:
    """A run's saved YAML file, which holds ``sections``; an unreadable, empty or damaged one is a ConfigError."""
    try:
        saved = OmegaConf.load(path)
    except Exception as error:  # YAML and OmegaConf errors alike: the file is not what a run wrote
        problem = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"{path} cannot be read ({problem}); it is not the file a run writes") from None
    missing = [section for section in sections if not isinstance(saved, DictConfig) or section not in saved]
    if missing:
        raise ConfigError(
            f"{path} is empty or damaged (no {', '.join(missing)} section); it is not the file a run writes"
        )
    return saved


def check_checkpoint_matches(
    cfg: DictConfig, checkpoint: Mapping[str, Any], path: str | Path, remedy: str | None = None
) -> None:
    """Raise :class:`ConfigError` when the checkpoint's model or up-sampler config differs from ``cfg``'s.

    ``remedy`` replaces the default advice (pass the overrides of the checkpoint's run).
    """
    saved = checkpoint.get("config") or {}
    saved_values, configured = [], []
    for section in ("model", "upsampler"):
        current = OmegaConf.to_container(cfg[section], resolve=True)
        before = saved.get(section, {})
        for key in sorted(set(current) | set(before)):
            if current.get(key) != before.get(key):
                saved_values.append(f"{section}.{key}={before.get(key)}")
                configured.append(f"{section}.{key}={current.get(key)}")
    if saved_values:
        groups = checkpoint.get("choices") or {}
        hint = " ".join(f"{group}={groups[group]}" for group in ("model", "upsampler") if groups.get(group))
        remedy = remedy or f"pass the overrides of its run{f' (e.g. {hint})' if hint else ''}"
        raise ConfigError(
            f"{path} was trained with a different network ({', '.join(saved_values)}; "
            f"configured: {', '.join(configured)}); {remedy}"
        )


def check_data_matches(checkpoint: Mapping[str, Any], model_kwargs: Mapping[str, Any], path: str | Path) -> None:
    """Raise :class:`ConfigError` when the model of ``checkpoint`` took other values from its data
    (``model_kwargs``, e.g. ``num_classes``) than the configured dataset gives."""
    saved = checkpoint.get("model_kwargs") or {}
    keys = [key for key in sorted(saved) if key in model_kwargs and saved[key] != model_kwargs[key]]
    if keys:
        raise ConfigError(
            f"{path} was trained on data with {', '.join(f'{key}={saved[key]}' for key in keys)} but the configured "
            f"dataset gives {', '.join(f'{key}={model_kwargs[key]}' for key in keys)}: evaluate it on the dataset "
            "of its run (its dataset= and dataset.* overrides)"
        )
