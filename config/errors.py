"""The one exception configuration loading raises: every problem found, each naming its path.

Loading never stops at the first mistake. It collects a `Problem` per mistake and raises a
single `ConfigError` at the end, so one run of `baton check` shows everything to fix. A
problem's message never contains a secret: key values are described by their kind or their
alias, never quoted.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs


@attrs.frozen
class Problem:
    """One mistake: where (`providers.alpha.keys[1]`) and what (`ALPHA_KEY_2 is not set`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """The configuration cannot be used. `problems` lists every reason, in document order."""

    def __init__(self, problems: Iterable[Problem], *, source: str | None = None) -> None:
        self.problems: list[Problem] = list(problems)
        self.source = source
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)
