"""What a request needs, and which catalog entries cannot give it."""

import pytest

from actors.capabilities import skip_reason
from config.model_info import Capabilities, ModelInfo
from protocols.needs import PROMPT_BYTES_PER_TOKEN, Needs, needs_of_chat, needs_of_embeddings

CHAT = ModelInfo(
    context_window=1000, capabilities=Capabilities(tools=True, vision=False, json_schema=True)
)


def test_needs_are_read_off_the_request() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:,"}}
    payload = {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, image]}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x"}},
    }
    needs = needs_of_chat(payload, size=9000)
    assert needs == Needs(tools=True, vision=True, json_schema=True, prompt_tokens=2000)
    assert needs_of_chat({"messages": [{"role": "user", "content": "x"}]}, 45) == Needs(
        prompt_tokens=int(45 / PROMPT_BYTES_PER_TOKEN)
    )
    assert needs_of_embeddings(90).embeddings


@pytest.mark.parametrize(
    ("needs", "reason"),
    [
        (Needs(), None),
        (Needs(tools=True, json_schema=True), None),
        (Needs(vision=True), "vision"),
        (Needs(prompt_tokens=1000), None),  # exactly full still fits
        (Needs(prompt_tokens=1001), "context_window"),
        (Needs(embeddings=True), "not_embeddings"),
    ],
)
def test_a_chat_model(needs: Needs, reason: str | None) -> None:
    assert skip_reason(needs, CHAT) == reason


def test_an_embedding_model_and_an_unknown_one() -> None:
    embed = ModelInfo(capabilities=Capabilities(embeddings=True))
    assert skip_reason(Needs(embeddings=True), embed) is None
    assert skip_reason(Needs(), embed) == "embeddings_only"
    assert skip_reason(Needs(tools=True, vision=True, embeddings=True), None) is None
    no_tools = ModelInfo(capabilities=Capabilities())
    assert skip_reason(Needs(tools=True), no_tools) == "tools"
    assert skip_reason(Needs(json_schema=True), no_tools) == "json_schema"
