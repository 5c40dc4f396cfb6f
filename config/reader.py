"""Reading untyped YAML values into typed ones, collecting problems that name the path.

A `Reader` walks one document. Each `text`/`integer`/`number`/... call either returns the
typed value or records a `Problem` and returns None, so a caller checks for None and carries
on: every mistake in the document is reported, not only the first. Every string is expanded
(`${VAR}`) before it is checked, so `priority: ${ALPHA_PRIORITY}` works.

Wrong values are quoted in messages (`expected an integer, got 'high'`) except where the value
may be a secret; there only its kind is given (`expected a string, got an integer`).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

import attrs

from config.env import expand
from config.errors import Problem
from config.urls import redact_url

_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "a list"),
    (dict, "a mapping"),
)


def kind(value: object) -> str:
    """`"a list"`, `"an integer"`, ...: a value described without showing it."""
    if value is None:
        return "nothing"
    for cls, name in _KINDS:
        if isinstance(value, cls):
            return name
    return f"a {type(value).__name__}"


def shown(value: object) -> str:
    """A wrong, non-secret value as quoted in a message: scalars by repr, others by kind."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, bool | int | float):
        return repr(value)
    return kind(value)


def child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@attrs.define
class Reader:
    env: Mapping[str, str] = attrs.field(repr=False)
    problems: list[Problem] = attrs.field(factory=list)
    warnings: list[str] = attrs.field(factory=list)

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(str(Problem(path, message)))

    def expand(self, text: str, path: str) -> str | None:
        result = expand(text, self.env)
        for name in result.missing:
            self.fail(path, f"{name} is not set")
        return None if result.missing else result.value

    def text(self, value: object, path: str, *, secret: bool = False) -> str | None:
        if isinstance(value, str):
            return self.expand(value, path)
        self.fail(path, f"expected a string, got {kind(value) if secret else shown(value)}")
        return None

    def choice(self, value: object, path: str, choices: Collection[str]) -> str | None:
        text = self.text(value, path)
        if text is not None and text not in choices:
            self.fail(path, f"expected one of {', '.join(choices)}, got {shown(text)}")
            return None
        return text

    def integer(self, value: object, path: str, *, minimum: int | None = None) -> int | None:
        number: int | None = None
        if isinstance(value, str):
            text = self.expand(value, path)
            if text is None:
                return None
            try:
                number = int(text.strip())
            except ValueError:
                value = text
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        if number is None:
            self.fail(path, f"expected an integer, got {shown(value)}")
            return None
        if minimum is not None and number < minimum:
            self.fail(path, f"must be at least {minimum}, got {number}")
            return None
        return number

    def number(
        self, value: object, path: str, problem: str, *, minimum: float | None = None
    ) -> float | None:
        """A finite number (YAML's, or text, `${VAR}` expanded) of at least `minimum`; else
        `problem` is reported with what was given, and None returned."""
        number: float | None = None
        if isinstance(value, str):
            text = self.expand(value, path)
            if text is None:
                return None
            try:
                number = float(text.strip())
            except ValueError:
                value = text
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        if (
            number is None
            or not math.isfinite(number)
            or (minimum is not None and number < minimum)
        ):
            self.fail(path, f"{problem}, got {shown(value)}")
            return None
        return number

    def seconds(self, value: object, path: str) -> float | None:
        """A finite number of seconds greater than 0."""
        number = self.number(value, path, "expected a number of seconds")
        if number is None:
            return None
        if number <= 0:
            self.fail(path, f"must be greater than 0, got {number:g}")
            return None
        return number

    def url(self, value: object, path: str) -> str | None:
        """An absolute http(s) URL, without a trailing slash."""
        text = self.text(value, path)
        if text is None:
            return None
        try:
            parts = urlsplit(text)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            self.fail(path, "expected an http(s) URL, got a malformed one")
            return None
        if not valid:
            self.fail(path, f"expected an http(s) URL, got {redact_url(text)!r}")
            return None
        return text.rstrip("/")

    def mapping(
        self, value: object, path: str, *, allowed: Collection[str] | None = None
    ) -> dict[str, object] | None:
        """A mapping with string keys (`None`, an empty YAML value, reads as `{}`).

        With `allowed`, every other key is reported as unknown, with a suggestion.
        """
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {kind(value)}")
            return None
        result: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                self.fail(path, f"expected names as keys, got {shown(key)}")
            elif allowed is not None and key not in allowed:
                self.fail(child(path, key), _unknown_key(key, allowed))
            else:
                result[key] = item
        return result

    def items(self, value: object, path: str, *, secret: bool = False) -> list[object] | None:
        """A list; a bare string reads as a list of one."""
        if isinstance(value, list):
            return value
        if isinstance(value, str):
            return [value]
        self.fail(path, f"expected a list, got {kind(value) if secret else shown(value)}")
        return None

    def names(self, items: list[object], path: str, *, what: str) -> tuple[str, ...]:
        """The distinct non-empty strings of `items` (stripped, in order); an empty one is
        reported as an empty `what`."""
        names: list[str] = []
        for index, item in enumerate(items):
            text = self.text(item, f"{path}[{index}]")
            if text is not None and not text.strip():
                self.fail(f"{path}[{index}]", f"empty {what}")
            elif text is not None and text.strip() not in names:
                names.append(text.strip())
        return tuple(names)


def _unknown_key(key: str, allowed: Collection[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    return f"unknown key (expected one of {', '.join(allowed)})"
