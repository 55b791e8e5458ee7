"""The configuration layer: schema, checks, resumed configs, resolvers and launcher checks.

Importing this package registers the resolvers and the schema's defaults with OmegaConf and
Hydra's ConfigStore, which composing ``configs/train.yaml`` needs (``train.py``, tests and the
benchmark import it before composing).
"""

from pixeldcn.config import resolvers, schema
from pixeldcn.config.errors import ConfigError

__all__ = ["ConfigError", "resolvers", "schema"]
