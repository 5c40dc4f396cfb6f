"""Top-level settings that stand alone: `embeddings:`, `state:` with `cluster:`, and
`model_rankings:` (read by `config.sections`, `config.state` and `config.rankings`)."""

from __future__ import annotations

from fnmatch import fnmatchcase

import attrs

from config.urls import redact_url


@attrs.frozen
class EmbeddingsSettings:
    """The top-level `embeddings:`: how long a small request waits for others to share its
    upstream call (seconds; 0: never), and how many inputs one call may carry."""

    batch_window: float = 0.01
    max_batch_inputs: int = 64


@attrs.frozen
class StateSettings:
    """`state:` and `cluster:` (`config.state`): None: each process keeps its own state."""

    url: str | None = attrs.field(
        default=None, repr=lambda url: "None" if url is None else repr(redact_url(url))
    )
    cluster: str = "baton"

    @property
    def shared(self) -> bool:
        return self.url is not None


@attrs.frozen
class Rankings:
    """Scores per model name or fnmatch pattern (`config.rankings`): `order: ranked`."""

    scores: tuple[tuple[str, float], ...] = ()  # (lower-cased name or pattern, score)

    def score_of(self, name: str) -> float | None:
        """The score of `name` (`provider/model`, or a model), matched as given and without
        each leading `prefix/` in turn (`groq/moonshotai/kimi-k2` is also `moonshotai/kimi-k2`
        and `kimi-k2`); None: unranked."""
        parts = name.lower().split("/")
        names = ["/".join(parts[index:]) for index in range(len(parts))]
        for pattern, score in self.scores:
            if any(each == pattern or fnmatchcase(each, pattern) for each in names):
                return score
        return None
