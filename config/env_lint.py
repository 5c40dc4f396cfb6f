"""Environment variables that look like configuration but that baton does not understand.

`baton check` (and `baton serve`, as warnings) names every variable shaped like one of
LLM-API-Key-Proxy's or baton's own (`<P>_API_KEY_<N>`, `IGNORE_MODELS_<P>`, `TIMEOUT_*`, ...)
whose provider is unknown, whose shape is a typo (`GROQ_API_KEYS`), or which baton reads no
counterpart of (`TIMEOUT_POOL`, `FAIR_CYCLE_*`). A variable is named, never its value.

`prefixes` are the providers baton knows in this configuration, as variable prefixes
(`GROQ`, `MY_LLM`); a variable for any other provider is reported.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping

from config.original_env import TIMEOUTS

CLIENT = "PROXY"
# <family>_<P>[...]: a per-provider setting; the rest of the name after P must match `tail`
PER_PROVIDER = (
    ("IGNORE_MODELS_", r""),
    ("WHITELIST_MODELS_", r""),
    ("ROTATION_MODE_", r""),
    ("PROVIDER_PRIORITY_", r""),
    ("MAX_CONCURRENT_REQUESTS_PER_KEY_", r"(_BALANCED|_SEQUENTIAL)?"),
    ("CONCURRENCY_MULTIPLIER_", r"_PRIORITY_[1-9][0-9]*(_BALANCED|_SEQUENTIAL)?"),
    ("QUOTA_GROUPS_", r"_[A-Z0-9_]+"),
)
KEY = re.compile(r"(?P<p>[A-Z0-9_]+?)_API_KEY(_[1-9][0-9]*)?")
UNSUPPORTED = (
    "OPTIMAL_CONCURRENT_REQUESTS_PER_KEY_",
    "FAIR_CYCLE_",
    "CUSTOM_CAP_",
    "EXHAUSTION_COOLDOWN_THRESHOLD",
    "SEQUENTIAL_FALLBACK_MULTIPLIER_",
)
GLOBALS = {"ROTATION_TOLERANCE", "OVERRIDE_TEMPERATURE_ZERO", *TIMEOUTS}


def suspicious_variables(env: Mapping[str, str], prefixes: Collection[str]) -> list[str]:
    """A warning for each variable that looks like configuration but is not understood."""
    warnings = []
    for name in sorted(env):
        problem = _problem(name, prefixes)
        if problem is not None:
            warnings.append(f"{name}: {problem}; ignored")
    return warnings


def _problem(name: str, prefixes: Collection[str]) -> str | None:
    if name.startswith("TIMEOUT_") and name not in GLOBALS:
        known = ", ".join(sorted(TIMEOUTS))
        return f"not a timeout baton reads (it reads {known})"
    close = difflib.get_close_matches(name, sorted(GLOBALS), n=1, cutoff=0.85)
    if close and name not in GLOBALS:
        return f"not understood (did you mean {close[0]}?)"
    if name.startswith(UNSUPPORTED):
        return "an LLM-API-Key-Proxy setting baton has no counterpart of"
    for family, tail in PER_PROVIDER:
        if name.startswith(family):
            return _per_provider(name.removeprefix(family), tail, prefixes)
    if "_API_KEY" in name:
        match = KEY.fullmatch(name)
        if match is None:
            return "not understood (keys are <PROVIDER>_API_KEY or <PROVIDER>_API_KEY_<n>)"
        provider = match["p"]
        if provider != CLIENT and provider not in prefixes:
            return (
                f"no provider {provider.lower()!r} (set {provider}_API_BASE to use it as an "
                "OpenAI-compatible provider)"
            )
    return None


def _per_provider(rest: str, tail: str, prefixes: Collection[str]) -> str | None:
    if any(re.fullmatch(re.escape(prefix) + tail, rest) for prefix in prefixes):
        return None
    return f"names no provider baton knows here ({', '.join(sorted(prefixes)) or 'none'})"
