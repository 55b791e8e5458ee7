"""The OmegaConf resolvers the configs use, registered on import (``train.py`` imports this first).

``configs/hydra/default.yaml`` needs them while Hydra sets up a job, before ``main()`` is called.
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf


def if_set(value: Any, if_set: Any, otherwise: Any) -> Any:
    """``${pixeldcn.if_set:${x},a,b}``: ``a`` when ``x`` is not null, else ``b``."""
    return otherwise if value is None else if_set


OmegaConf.register_new_resolver("pixeldcn.if_set", if_set, replace=True)
