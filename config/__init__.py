"""Configuration: YAML and the environment in, frozen values out (see `config.loader`)."""

from config.describe import describe
from config.errors import ConfigError, Problem
from config.loader import load, load_text
from config.model import (
    ANY_MODEL,
    PROVIDER_KINDS,
    ROTATIONS,
    Config,
    Credential,
    Limits,
    Loaded,
    ProviderConfig,
    RateLimits,
    ServerConfig,
    Target,
    Timeouts,
    VirtualModel,
)

__all__ = [
    "ANY_MODEL",
    "PROVIDER_KINDS",
    "ROTATIONS",
    "Config",
    "ConfigError",
    "Credential",
    "Limits",
    "Loaded",
    "Problem",
    "ProviderConfig",
    "RateLimits",
    "ServerConfig",
    "Target",
    "Timeouts",
    "VirtualModel",
    "describe",
    "load",
    "load_text",
]
