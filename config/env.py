"""The environment a configuration is read against: variables, `.env` files, key discovery.

Variables come from the process environment (or a mapping a test passes in) and from a `.env`
file beside the configuration; the real environment wins. `${VAR}` is the only expansion
syntax. Provider keys can also be discovered by name: `GROQ_API_KEY`, `GROQ_API_KEY_1`, ...

Nothing here logs. python-dotenv logs a warning for every line it cannot parse, so those lines
are found with its parser first, reported as warnings, and left out before `dotenv_values`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path

import attrs
from dotenv import dotenv_values
from dotenv.parser import parse_stream

from config.errors import ConfigError, Problem

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@attrs.frozen
class Expansion:
    """The result of expanding one string. Unset variables expand to "" and are listed."""

    value: str = attrs.field(repr=False)
    missing: tuple[str, ...] = ()
    # The variable's name when the whole string was exactly one `${VAR}`.
    variable: str | None = None


def expand(text: str, env: Mapping[str, str]) -> Expansion:
    """Replace every `${VAR}` in `text` with its value in `env`."""
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match[1]
        if name in env:
            return env[name]
        if name not in missing:
            missing.append(name)
        return ""

    sole = _VARIABLE.fullmatch(text)
    return Expansion(
        value=_VARIABLE.sub(substitute, text),
        missing=tuple(missing),
        variable=sole[1] if sole else None,
    )


def env_prefix(provider: str) -> str:
    """`"my-local.llm"` -> `"MY_LOCAL_LLM"`: the prefix of a provider's variables."""
    return provider.upper().replace("-", "_").replace(".", "_")


def discover_keys(prefix: str, env: Mapping[str, str]) -> list[tuple[str, str]]:
    """`(variable, secret)` for `<PREFIX>_API_KEY`, then `<PREFIX>_API_KEY_<n>` by n.

    Numbering may have gaps (`_1`, `_2`, `_5`): every index that is set counts. Variables set
    to an empty (or blank) value are ignored, as if unset.
    """
    base = f"{prefix}_API_KEY"
    numbered = re.compile(re.escape(base) + r"_([1-9][0-9]*)")
    indexed = sorted(
        (int(match[1]), name) for name in env if (match := numbered.fullmatch(name)) is not None
    )
    names = [base, *(name for _, name in indexed)]
    return [(name, env[name].strip()) for name in names if env.get(name, "").strip()]


@attrs.frozen
class Environment:
    """The variables a configuration sees, and the warnings reading them produced."""

    variables: Mapping[str, str] = attrs.field(repr=False)
    warnings: tuple[str, ...] = ()


def read_environment(env: Mapping[str, str], dotenv_path: Path | None) -> Environment:
    """`env` over the variables of `dotenv_path` (if that file exists)."""
    if dotenv_path is None or not dotenv_path.is_file():
        return Environment(variables=dict(env))
    try:
        text = dotenv_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([Problem(str(dotenv_path), f"cannot read: {reason}")]) from exc
    clean, warnings = _without_invalid_lines(text, dotenv_path.name)
    from_file = dotenv_values(stream=io.StringIO(clean))
    variables = {name: value for name, value in from_file.items() if value is not None}
    variables.update(env)
    return Environment(variables=variables, warnings=tuple(warnings))


def _without_invalid_lines(text: str, label: str) -> tuple[str, list[str]]:
    kept: list[str] = []
    warnings: list[str] = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            # Never quote the line: it may hold a secret.
            warnings.append(f"{label}, line {binding.original.line}: cannot parse; ignored")
        else:
            kept.append(binding.original.string)
    return "".join(kept), warnings
