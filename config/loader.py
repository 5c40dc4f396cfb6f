"""Entry points: a YAML file (or text) and the environment in, a `Loaded` config out.

`load(None)` looks for `./baton.yaml` and otherwise falls back to the built-in defaults, which
enable whichever well-known providers have keys in the environment. Either way `${VAR}` comes
from the environment, over a `.env` file beside the configuration (beside `cwd` for the
defaults). Every problem in the document is collected and raised as one `ConfigError`;
warnings are returned, never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from config.aliases import read_model_aliases
from config.catalog_section import read_model_catalog
from config.cooldowns import read_cooldowns, read_daily_reset
from config.defaults import default_config
from config.env import Environment, read_environment
from config.errors import ConfigError, Problem
from config.health import read_health
from config.model import DAILY_RESET_UTC, DEFAULT_HEALTH, Config, Loaded
from config.provider_options import read_tolerance
from config.providers import read_providers
from config.rankings import read_rankings
from config.reader import Reader, kind
from config.sections import read_embeddings, read_server, read_timeouts, read_virtual_models
from config.state import read_state
from config.telemetry import read_telemetry
from config.yamltext import parse_yaml

DEFAULT_FILE = "baton.yaml"
DOTENV_FILE = ".env"
SECTIONS = (
    "server",
    "timeouts",
    "providers",
    "virtual_models",
    "model_aliases",
    "embeddings",
    "model_rankings",
    "state",
    "cluster",
    "model_catalog",
    "health",
    "cooldowns",
    "daily_reset_utc",
    "telemetry",
    "rotation_tolerance",
)


def load(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Loaded:
    """Load `path` (relative to `cwd`), or `cwd/baton.yaml`, or the built-in defaults."""
    cwd = Path.cwd() if cwd is None else cwd
    env = os.environ if env is None else env
    if path is None:
        if not (cwd / DEFAULT_FILE).is_file():
            return default_config(read_environment(env, cwd / DOTENV_FILE))
        path = cwd / DEFAULT_FILE
    path = cwd / path
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([Problem(str(path), f"cannot read: {reason}")], source=str(path)) from exc
    environment = read_environment(env, path.parent / DOTENV_FILE)
    return _from_text(text, environment, source=str(path))


def load_text(
    text: str,
    *,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    source: str = "<text>",
) -> Loaded:
    """Load YAML `text`; `${VAR}` also comes from `base_dir/.env` when `base_dir` is given."""
    env = os.environ if env is None else env
    dotenv = None if base_dir is None else base_dir / DOTENV_FILE
    return _from_text(text, read_environment(env, dotenv), source=source)


def _from_text(text: str, environment: Environment, *, source: str) -> Loaded:
    document = parse_yaml(text, source=source)
    if document is not None and not isinstance(document, dict):
        problem = Problem("", f"expected a mapping of {', '.join(SECTIONS)}, got {kind(document)}")
        raise ConfigError([problem], source=source)

    reader = Reader(env=environment.variables, warnings=list(environment.warnings))
    sections = reader.mapping(document, "", allowed=SECTIONS) or {}
    server = read_server(reader, sections.get("server"))
    timeouts = read_timeouts(reader, sections.get("timeouts"))
    embeddings = read_embeddings(reader, sections.get("embeddings"))
    health = read_health(reader, sections.get("health"), "health")
    cooldowns = read_cooldowns(reader, sections.get("cooldowns"), "cooldowns")
    daily_reset = read_daily_reset(
        reader, sections.get("daily_reset_utc"), "daily_reset_utc", DAILY_RESET_UTC
    )
    # the default for every provider that sets no `rotation_tolerance` of its own
    tolerance = read_tolerance(
        reader, sections.get("rotation_tolerance", 0.0), "rotation_tolerance"
    )
    providers, declared = read_providers(
        reader,
        sections.get("providers"),
        cooldowns=cooldowns,
        daily_reset=daily_reset,
        tolerance=tolerance or 0.0,
    )
    telemetry = read_telemetry(reader, sections.get("telemetry"))
    virtual_models = read_virtual_models(
        reader, sections.get("virtual_models"), providers, declared
    )
    aliases = read_model_aliases(
        reader, sections.get("model_aliases"), virtual_models, providers, declared
    )
    state = read_state(reader, sections.get("state"), sections.get("cluster"))
    base_dir = Path(source).parent if Path(source).is_file() else None
    rankings = read_rankings(reader, sections.get("model_rankings"), base_dir, "model_rankings")
    for name, virtual in virtual_models.items():
        if virtual.order == "ranked" and not rankings.scores:
            reader.warn(f"virtual_models.{name}.order", "ranked, but model_rankings has no scores")
    catalog = read_model_catalog(reader, sections.get("model_catalog"))
    if not declared:
        reader.warn("providers", "no providers configured")
    if reader.problems:
        raise ConfigError(reader.problems, source=source)

    assert server is not None and timeouts is not None and health is not None
    assert embeddings is not None
    config = Config(
        server=server,
        timeouts=timeouts,
        providers=providers,
        virtual_models=virtual_models,
        model_aliases=aliases,
        embeddings=embeddings,
        rankings=rankings,
        state=state,
        model_catalog=catalog,
        source=source,
        health=health.over(DEFAULT_HEALTH),
        telemetry=telemetry,
        daily_reset_utc=daily_reset,
    )
    return Loaded(config=config, warnings=tuple(reader.warnings))
