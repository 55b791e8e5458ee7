"""Hydra launcher plugins: what to install when a sweep asks for a launcher that is not there."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

# hydra/launcher options that come from optional plugins (pyproject's `launchers` extra): the
# plugin's module and its PyPI package.
LAUNCHER_PLUGINS = {
    "joblib": ("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
}


def launcher_plugin_problem(overrides: Sequence[str]) -> str | None:
    """What to install when ``overrides`` pick a Hydra launcher whose plugin is missing, else ``None``.

    Hydra itself only says that the config ``hydra/launcher/<name>`` is not found.
    """
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+~") != "hydra/launcher" or value not in LAUNCHER_PLUGINS:
            continue
        module, package = LAUNCHER_PLUGINS[value]
        if importlib.util.find_spec(module) is None:
            return (
                f"hydra/launcher={value} needs the {package} plugin, which is not installed: "
                "pip install -e '.[launchers]' (make install does)"
            )
    return None
