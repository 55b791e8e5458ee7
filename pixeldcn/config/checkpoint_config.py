"""The configuration a checkpoint was trained with, and ``mode=eval`` built from it.

Every checkpoint holds its run's resolved configuration (``config``) and group choices
(``choices``); older ones without them are read through their run directory's ``.hydra/``.
``mode=eval ckpt_path=<checkpoint>`` evaluates with that configuration, so nothing has to be
typed again; what is typed still applies (see :func:`eval_config`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigKeyError

from pixeldcn.config.errors import ConfigError
from pixeldcn.engine.checkpoint import BEST_CHECKPOINT, LAST_CHECKPOINT, load_checkpoint
from pixeldcn.run_files import CONFIG_FILE, HYDRA_FILE
from pixeldcn.utils.io import atomic_write_text

log = logging.getLogger(__name__)

# Overrides that say what to evaluate and where to write, not how the checkpoint was trained.
_EVAL_KEYS = ("mode", "ckpt_path", "hydra")


def checkpoint_file(path: str | Path) -> Path:
    """``path`` itself, or for a run directory its ``best.pt`` (``last.pt`` when there is no best)."""
    path = Path(path)
    if not path.is_dir():
        return path
    for name in (BEST_CHECKPOINT, LAST_CHECKPOINT):
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(
        f"{path} holds no {BEST_CHECKPOINT} or {LAST_CHECKPOINT}; pass a run directory or a checkpoint"
    )


def saved_run_config(checkpoint: Mapping[str, Any], checkpoint_path: str | Path) -> DictConfig:
    """The resolved configuration ``checkpoint`` (read from ``checkpoint_path``) was trained with.

    Its ``config`` entry, or for a checkpoint written before checkpoints held one, the run
    directory's ``.hydra/config.yaml`` (``${hydra:...}`` taken from the run's ``.hydra/hydra.yaml``).

    Raises:
        ConfigError: neither is there.
    """
    if checkpoint.get("config"):
        return OmegaConf.create(dict(checkpoint["config"]))
    run_dir = Path(checkpoint_path).parent
    config_file, hydra_file = run_dir / CONFIG_FILE, run_dir / HYDRA_FILE
    if not config_file.is_file():
        raise ConfigError(
            f"{checkpoint_path} holds no configuration and {config_file} is missing: pass a checkpoint of a "
            "run directory written by train.py (or train it again to get one that holds its configuration)"
        )
    # The run's own Hydra values, not the current process's: ${hydra:a.b} reads the saved hydra node.
    text = re.sub(r"\$\{hydra:", "${hydra.", config_file.read_text(encoding="utf-8"))
    saved = OmegaConf.create(text)
    if hydra_file.is_file():
        saved = OmegaConf.merge(saved, OmegaConf.load(hydra_file))
    # Node by node: the hydra node's own interpolations (sweep directories...) need not resolve.
    return OmegaConf.create(
        {
            key: OmegaConf.to_container(saved[key], resolve=True) if isinstance(saved[key], DictConfig) else saved[key]
            for key in saved
            if key != "hydra"
        }  # fmt: skip
    )


def saved_choices(checkpoint: Mapping[str, Any], checkpoint_path: str | Path) -> dict[str, str | None]:
    """The group choices of the run that wrote ``checkpoint`` (its ``choices``, else ``.hydra/hydra.yaml``'s)."""
    if checkpoint.get("choices"):
        return dict(checkpoint["choices"])
    hydra_file = Path(checkpoint_path).parent / HYDRA_FILE
    if hydra_file.is_file():
        return dict(OmegaConf.load(hydra_file).hydra.runtime.choices)
    return {}


def eval_config(cfg: DictConfig) -> tuple[DictConfig, dict[str, str | None]]:
    """The configuration ``mode=eval`` runs with: the checkpoint's, with what was typed applied.

    The checkpoint's configuration (:func:`saved_run_config`) gives network, dataset,
    preprocessing and evaluation settings. Value overrides typed now apply to it
    (``eval.split=train``, ``dataset.root=...``); a group typed with the checkpoint's own choice
    changes nothing, and a group of another choice replaces its node with what it composes to now
    (``dataset=<another dataset of the same classes>``; ``upsampler=...`` ends in the network
    mismatch error). Groups that set values across the configuration (``debug``, ``experiment``)
    cannot be applied to a saved configuration: type their values instead. The result replaces
    the run directory's ``.hydra/config.yaml``, so reports read the settings that ran.
    """
    given = dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
    if not Path(cfg.ckpt_path).exists():
        return cfg, given  # validation names the missing file
    checkpoint_path = checkpoint_file(cfg.ckpt_path)
    checkpoint = load_checkpoint(checkpoint_path)
    try:
        saved = saved_run_config(checkpoint, checkpoint_path)
    except ConfigError as error:
        log.warning("%s; evaluating with the configuration given on the command line", error)
        return cfg, given
    choices = saved_choices(checkpoint, checkpoint_path)
    typed = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    OmegaConf.set_struct(saved, True)
    applied = []
    for item in OverridesParser.create().parse_overrides(typed):
        key = item.key_or_group
        if key.split(".")[0] in _EVAL_KEYS:
            continue
        if key in given:
            if given[key] == choices.get(key):
                continue  # typed again as it was trained: already in the saved configuration
            node = cfg.get(key) if item.package is None else None
            if not isinstance(node, DictConfig):
                raise ConfigError(
                    f"mode=eval takes its configuration from {checkpoint_path}; `{item.input_line}` sets values "
                    "across the configuration and cannot be applied to it: type the values you want instead "
                    "(e.g. eval.num_batches=2)"
                )
            with open_dict(saved):
                saved[key] = OmegaConf.to_container(node, resolve=True)
            choices[key] = given[key]
        elif item.is_delete():
            raise ConfigError(
                f"`{item.input_line}`: mode=eval cannot delete settings of {checkpoint_path}'s configuration"
            )
        else:
            try:
                adds = item.is_add() or item.is_force_add()
                OmegaConf.update(saved, key, item.value(), merge=True, force_add=adds)
            except ConfigKeyError:
                raise ConfigError(
                    f"`{item.input_line}`: {checkpoint_path}'s configuration has no setting {key}"
                ) from None
        applied.append(item.input_line)
    with open_dict(saved):
        saved.mode = "eval"
        saved.ckpt_path = str(checkpoint_path)
        saved.resume = None
        saved.paths.output_dir = cfg.paths.output_dir
    # What ran, for reports that read a run's settings from its .hydra/config.yaml (Hydra wrote the
    # command line's composition there, which is not what this run evaluates with).
    config_file = Path(cfg.paths.output_dir) / CONFIG_FILE
    if config_file.parent.is_dir():
        atomic_write_text(config_file, OmegaConf.to_yaml(saved))
    log.info(
        "evaluating %s with the configuration it was trained with%s",
        checkpoint_path,
        f", and {' '.join(applied)}" if applied else "",
    )
    return saved, choices
