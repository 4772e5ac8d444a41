"""Moved to :mod:`cible.yaml_config` (#16, 2026-12), where the loader's source settings reach it
without importing the ML package; kept so that imports of ``cible.ml.config`` still work."""

from cible.yaml_config import (  # noqa: F401
    ConfigError,
    ConfigFile,
    Problems,
    Section,
    at,
    items,
    parse,
    read_yaml,
)
