"""Experiment reproduction framework for Pixel Deconvolutional Networks (Gao et al., 2017)."""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Imported on first use: `import pixeldcn.config` (train.py, --help) stays free of torch models.
    if name == "load_model":
        from pixeldcn.inference import load_model

        return load_model
    raise AttributeError(f"module 'pixeldcn' has no attribute {name!r}")
