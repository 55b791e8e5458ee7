"""The OmegaConf resolvers the configs use, registered on import (``train.py`` imports this first).

``configs/hydra/default.yaml`` needs them while Hydra sets up a job, before ``main()`` is called.
"""

from __future__ import annotations

import re
from typing import Any

from omegaconf import OmegaConf

# Characters a path may hold and still pass unquoted through a shell and Hydra's override grammar
# (`=`, `,`, `~`, brackets, quotes, spaces and shell metacharacters are not among them).
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")
MAX_NAME_LENGTH = 120


def if_set(value: Any, if_set: Any, otherwise: Any) -> Any:
    """``${pixeldcn.if_set:${x},a,b}``: ``a`` when ``x`` is not null, else ``b``."""
    return otherwise if value is None else if_set


def job_dir_name(number: Any, overrides: Any) -> str:
    """``${pixeldcn.job_dir_name:${hydra.job.num},${hydra.job.override_dirname}}``: ``<number>_<overrides>``.

    Every run of characters outside ``[A-Za-z0-9_.+-]`` becomes ``_`` and the name is cut to
    :data:`MAX_NAME_LENGTH`, so the directory can be typed back unquoted (``resume=``, ``ckpt_path=``);
    the number keeps cut names apart and the job's ``.hydra/overrides.yaml`` records its overrides.
    """
    name = _UNSAFE.sub("_", str(overrides or "")).strip("_")
    return f"{number}_{name}"[:MAX_NAME_LENGTH] if name else str(number)


def run_path(*parts: Any) -> str:
    """``${pixeldcn.run_path:a,null,b}``: the parts that are set, joined by ``/`` (``a/b``)."""
    return "/".join(str(part) for part in parts if part is not None and str(part) != "")


OmegaConf.register_new_resolver("pixeldcn.if_set", if_set, replace=True)
OmegaConf.register_new_resolver("pixeldcn.job_dir_name", job_dir_name, replace=True)
OmegaConf.register_new_resolver("pixeldcn.run_path", run_path, replace=True)
