"""The OmegaConf resolvers the configs use, registered on import (``train.py`` imports this first).

``configs/hydra/default.yaml`` needs them while Hydra sets up a job, before ``main()`` is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

# Groups that configs/train.yaml selects itself from other choices (Hydra's specialisation
# pattern): never chosen on the command line, so left out of `--help`.
INTERNAL_GROUPS = ("dataset_model", "debug_model")


def if_set(value: Any, if_set: Any, otherwise: Any) -> Any:
    """``${pixeldcn.if_set:${x},a,b}``: ``a`` when ``x`` is not null, else ``b``."""
    return otherwise if value is None else if_set


def run_path(*parts: Any) -> str:
    """``${pixeldcn.run_path:a,null,b}``: the parts that are set, joined by ``/`` (``a/b``)."""
    return "/".join(str(part) for part in parts if part is not None and str(part) != "")


def config_groups(config_sources: Sequence[Any]) -> str:
    """``--help``'s list of config groups and their options (``group: a, b``), internal groups left out.

    Read from the file config sources (``hydra.runtime.config_sources``): the ``configs/`` tree.
    """
    lines = []
    for source in config_sources:
        if source.get("schema") != "file" or source.get("provider") == "hydra":
            continue
        root = Path(str(source["path"]))
        for directory in sorted(path for path in root.rglob("*") if path.is_dir()):
            group = directory.relative_to(root).as_posix()
            if group.split("/")[0] in ("hydra", *INTERNAL_GROUPS):
                continue
            options = sorted(path.stem for path in directory.glob("*.yaml"))
            if options:
                lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines)


OmegaConf.register_new_resolver("pixeldcn.if_set", if_set, replace=True)
OmegaConf.register_new_resolver("pixeldcn.run_path", run_path, replace=True)
OmegaConf.register_new_resolver("pixeldcn.config_groups", config_groups, replace=True)
