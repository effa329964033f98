"""Configuration: the model, the built-in defaults, loading and environment variable names."""

from .loader import ConfigError, build_config, load_config, summary
from .model import Config, Upstream

__all__ = ["Config", "ConfigError", "Upstream", "build_config", "load_config", "summary"]
