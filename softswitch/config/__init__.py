"""Operator configuration: pydantic schema and the YAML loader with file:line errors."""

from .loader import ConfigError, ConfigProblem, load_config, load_config_text
from .schema import Account, Config, Extension

__all__ = ["Account", "Config", "ConfigError", "ConfigProblem", "Extension", "load_config", "load_config_text"]
