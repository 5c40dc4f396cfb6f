"""The one way the edge counts tokens, for every route that does: `POST /v1/token-count`,
`POST /v1/responses/input_tokens`, `POST /v1/messages/count_tokens` and the input of
`POST /v1/cost-estimate`.

A request is counted as the model that would serve it first reads it: the requested name is
resolved through aliases and virtual chains (`Router.chain_for`) to its chain's first
candidate, and counted with that model's encoding (`protocols.token_count.count_tokens`). Only
OpenAI-family models have an encoding baton ships; any other is counted with o200k_base as an
estimate. Every counting reply says which in two headers: `x-baton-token-count: exact` or
`estimate`, and `x-baton-token-encoding`.

A name no chain serves is counted as named (what the original proxy did for any model), except
on the Messages route, which answers Anthropic's 404 as Anthropic's API does.
"""

from __future__ import annotations

from typing import Any

import trio

from actors.routing import Router
from protocols.token_count import TokenCount, count_tokens

COUNT_HEADER = "x-baton-token-count"
ENCODING_HEADER = "x-baton-token-encoding"


def counting_model(router: Router, model: str) -> str | None:
    """The model name `model` is counted as: its chain's first candidate's (the model as its
    provider is asked for it); None when no chain serves `model`."""
    chain = router.chain_for(model)
    if chain is None:
        return None
    return chain[0].model if chain else model


async def count(
    model: str, *, chat: dict[str, Any] | None = None, text: str | None = None
) -> TokenCount:
    """`count_tokens` in a worker thread: tiktoken releases the GIL, and the first count of an
    encoding also loads it (up to a second), which must not hold up the event loop."""
    return await trio.to_thread.run_sync(lambda: count_tokens(model, chat=chat, text=text))


def count_headers(counted: TokenCount) -> dict[str, str]:
    return {
        COUNT_HEADER: "exact" if counted.exact else "estimate",
        ENCODING_HEADER: counted.encoding,
    }
