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
    Price,
    ProviderConfig,
    RateLimits,
    ServerConfig,
    Target,
    Timeouts,
    VirtualModel,
)
from config.prices import cost_of

__all__ = [
    "ANY_MODEL",
    "PROVIDER_KINDS",
    "ROTATIONS",
    "Config",
    "ConfigError",
    "Credential",
    "Limits",
    "Loaded",
    "Price",
    "Problem",
    "ProviderConfig",
    "RateLimits",
    "ServerConfig",
    "Target",
    "Timeouts",
    "VirtualModel",
    "cost_of",
    "describe",
    "load",
    "load_text",
]
