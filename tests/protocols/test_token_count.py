"""Vectors for counting a Chat request's input tokens as its upstream counts them.

The whole-request vectors are the OpenAI cookbook's ("How to count tokens with tiktoken"),
where its counts were checked against the `prompt_tokens` the API reported; the string vectors
are the token ids printed there.
"""

import base64
import socket
import struct
from typing import Any

import pytest
import tiktoken
from tiktoken_ext import openai_public  # type: ignore[import-untyped]

from protocols import token_encodings
from protocols.errors import BadRequest
from protocols.image_tokens import image_size, image_tokens, tile_tokens
from protocols.responses.request import responses_to_chat
from protocols.token_count import TokenCount, count_chat_input, count_tokens
from protocols.token_encodings import encoding_name, known_encoding_name, load_encoding
from protocols.tool_typescript import render_tools

CORPORATE = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "The city and state, e.g. San Francisco, CA",
                },
                "unit": {
                    "type": "string",
                    "description": "The unit of temperature to return",
                    "enum": ["celsius", "fahrenheit"],
                },
            },
            "required": ["location"],
        },
    },
}
WEATHER_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


def chat(*messages: dict[str, Any], model: str = "gpt-4o", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": list(messages), **fields}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


# -- encodings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "ids"),
    [
        ("o200k_base", "hello world", [24912, 2375]),
        ("cl100k_base", "hello world", [15339, 1917]),
        ("o200k_base", "tiktoken is great!", [83, 8251, 2488, 382, 2212, 0]),
        ("o200k_base", "antidisestablishmentarianism", [493, 129901, 376, 160388, 21203, 2367]),
        ("cl100k_base", "antidisestablishmentarianism", [519, 85342, 34500, 479, 8997, 2191]),
        ("o200k_base", "2 + 2 = 4", [17, 659, 220, 17, 314, 220, 19]),
        ("cl100k_base", "2 + 2 = 4", [17, 489, 220, 17, 284, 220, 19]),
        ("o200k_base", "お誕生日おめでとう", [8930, 9697, 243, 128225, 8930, 17693, 4344, 48669]),
        (
            "cl100k_base",
            "お誕生日おめでとう",
            [33334, 45918, 243, 21990, 9080, 33334, 62004, 16556, 78699],
        ),
    ],
)
def test_encodings_give_openais_token_ids(name: str, text: str, ids: list[int]) -> None:
    assert load_encoding(name).encode_ordinary(text) == ids


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_shipped_encodings_are_tiktokens_own(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """tiktoken's own constructor, its download swapped for the shipped ranks, builds the
    same encoding: same pinned hash, split pattern and special tokens."""
    ranks = token_encodings._read_ranks(name)
    pinned: list[str | None] = []

    def shipped(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        pinned.append(expected_hash)
        return ranks

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", shipped)
    spec = openai_public.ENCODING_CONSTRUCTORS[name]()
    assert pinned == [token_encodings._SHA256[name]]
    ours = load_encoding(name)
    reference = tiktoken.Encoding(**spec)
    assert ours._pat_str == reference._pat_str
    assert ours._special_tokens == reference._special_tokens
    assert ours.n_vocab == reference.n_vocab


def test_ranks_that_are_not_openais_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(token_encodings._SHA256, "cl100k_base", "0" * 64)
    with pytest.raises(RuntimeError, match="not OpenAI's"):
        token_encodings._read_ranks("cl100k_base")


def test_an_encoding_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_encodings, "_loaded", {})
    reads: list[str] = []
    read = token_encodings._read_ranks

    def counted(name: str) -> dict[bytes, int]:
        reads.append(name)
        return read(name)

    monkeypatch.setattr(token_encodings, "_read_ranks", counted)
    first = load_encoding("cl100k_base")
    assert load_encoding("cl100k_base") is first
    count_chat_input(chat(user("hi"), model="gpt-4"))
    assert reads == ["cl100k_base"]


def test_loading_and_counting_never_touch_the_network(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("token counting opened a connection")

    monkeypatch.setattr(token_encodings, "_loaded", {})  # load from scratch, sockets refused
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # and no cache to fall back on
    for name in ("create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert count_chat_input(chat(user("hello world"), model="gpt-4o")) == 9
    assert count_chat_input(chat(user("hello world"), model="gpt-4")) == 9
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("model", "name", "known"),
    [
        ("gpt-4o", "o200k_base", True),
        ("gpt-4o-mini-2024-07-18", "o200k_base", True),
        ("gpt-4.1-mini", "o200k_base", True),
        ("gpt-5", "o200k_base", True),
        ("o3-mini", "o200k_base", True),
        ("o4-mini", "o200k_base", True),
        ("openai/gpt-oss-120b", "o200k_base", True),  # o200k_harmony: the same ranks
        ("openai/gpt-4o", "o200k_base", True),
        ("gpt-4", "cl100k_base", True),
        ("gpt-4-turbo", "cl100k_base", True),
        ("gpt-3.5-turbo", "cl100k_base", True),
        ("llama-3.3-70b-versatile", "o200k_base", False),
        ("qwen/qwen3-coder", "o200k_base", False),
        ("gemini-2.5-pro", "o200k_base", False),
        ("claude-sonnet-4-5", "o200k_base", False),
        ("text-davinci-003", "o200k_base", False),  # p50k_base is not shipped
        (None, "o200k_base", False),
    ],
)
def test_encoding_follows_the_model(model: str | None, name: str, known: bool) -> None:
    assert encoding_name(model) == name
    assert (known_encoding_name(model) is not None) == known


# -- whole requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "tokens"),
    [("gpt-4o", 124), ("gpt-4o-mini", 124), ("gpt-4", 129), ("gpt-3.5-turbo", 129)],
)
def test_messages_count_as_the_api_counted_them(model: str, tokens: int) -> None:
    assert count_chat_input(chat(*CORPORATE, model=model)) == tokens


@pytest.mark.parametrize(
    ("model", "tokens"),
    [("gpt-4o", 101), ("gpt-4o-mini", 101), ("gpt-4", 105), ("gpt-3.5-turbo", 105)],
)
def test_tools_count_as_the_api_counted_them(model: str, tokens: int) -> None:
    payload = chat(*WEATHER_MESSAGES, model=model, tools=[WEATHER_TOOL], tool_choice="auto")
    assert count_chat_input(payload) == tokens


def test_each_message_costs_three_plus_role_and_content() -> None:
    one = count_chat_input(chat(user("hello world")))
    assert one == 3 + 1 + 2 + 3  # message, "user", "hello world", reply primer
    two = count_chat_input(chat(user("hello world"), {"role": "assistant", "content": "hi"}))
    assert two - one == 3 + 1 + 1
    named = count_chat_input(chat({"role": "user", "name": "bob", "content": "hello world"}))
    assert named - one == 1 + 1  # "bob" and the name's own token


def test_more_tools_cost_more() -> None:
    other = {"type": "function", "function": {"name": "ping", "parameters": {}}}
    none = count_chat_input(chat(*WEATHER_MESSAGES))
    one = count_chat_input(chat(*WEATHER_MESSAGES, tools=[WEATHER_TOOL]))
    two = count_chat_input(chat(*WEATHER_MESSAGES, tools=[WEATHER_TOOL, other]))
    assert none < one < two
    legacy = count_chat_input(chat(*WEATHER_MESSAGES, functions=[WEATHER_TOOL["function"]]))
    assert legacy == one


def test_nested_parameters_read_as_typescript() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "edit",
            "description": "Edit files.\nOne call, many edits.",
            "parameters": {
                "type": "object",
                "properties": {
                    "edits": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "path": {"type": "string", "description": "File path"},
                                "line": {"type": ["integer", "null"]},
                            },
                            "required": ["path"],
                        },
                    },
                    "mode": {"enum": ["fast", "safe"], "default": "safe"},
                    "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
                "required": ["edits"],
            },
        },
    }
    assert render_tools([tool, {"type": "function", "function": {"name": "ping"}}]) == "\n".join(
        [
            "# Tools",
            "",
            "## functions",
            "",
            "namespace functions {",
            "",
            "// Edit files.",
            "// One call, many edits.",
            "type edit = (_: {",
            "edits: {",
            "    // File path",
            "    path: string,",
            "    line?: number | null,",
            "    }[],",
            'mode?: "fast" | "safe", // default: "safe"',
            "note?: string | null,",
            "}) => any;",
            "",
            "type ping = () => any;",
            "",
            "} // namespace functions",
        ]
    )


def test_a_json_schema_response_format_costs_its_schema() -> None:
    plain = count_chat_input(chat(user("hi")))
    assert count_chat_input(chat(user("hi"), response_format={"type": "json_object"})) == plain
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    form = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    assert count_chat_input(chat(user("hi"), response_format=form)) > plain + 10


def test_tool_calls_and_results_cost_their_text_not_their_ids() -> None:
    def turn(call_id: str) -> dict[str, Any]:
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": "get_current_weather", "arguments": '{"location":"Paris"}'},
        }
        return chat(
            user("Weather in Paris?"),
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": "18C, clear"},
        )

    short, long = count_chat_input(turn("c1")), count_chat_input(turn("call_" + "x" * 40))
    assert short == long
    bare = count_chat_input(chat(user("Weather in Paris?")))
    assert short > bare + 2 * 3 + 5  # two more messages, the call's name and arguments, output


def test_text_parts_count_like_their_text() -> None:
    parts = [{"type": "text", "text": "hello"}, {"type": "text", "text": " world"}]
    assert count_chat_input(chat(user(parts))) == count_chat_input(chat(user("hello world")))


def test_special_token_text_is_ordinary_text() -> None:
    assert count_chat_input(chat(user("<|endoftext|>"))) > 3 + 1 + 1 + 3


def test_reasoning_and_refusals_are_read() -> None:
    plain = count_chat_input(chat(user("hi"), {"role": "assistant", "content": "ok"}))
    kept = {"role": "assistant", "content": "ok", "reasoning_content": "think step by step"}
    assert count_chat_input(chat(user("hi"), kept)) > plain
    refused = [{"type": "refusal", "refusal": "I can't help with that."}]
    assert count_chat_input(chat(user("hi"), {"role": "assistant", "content": refused})) > plain


def test_other_models_count_in_o200k_base() -> None:
    payload = chat(*CORPORATE, model="llama-3.3-70b-versatile")
    assert count_chat_input(payload) == 124  # gpt-4o's count: an approximation for Llama
    assert count_chat_input({"messages": CORPORATE}) == 124


def test_a_translated_responses_request_is_counted() -> None:
    translation = responses_to_chat(
        {"model": "gpt-4o", "instructions": "Be brief.", "input": "hello world"}
    )
    assert count_chat_input(translation.chat) == (3 + 1 + 3) + (3 + 1 + 2) + 3


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"model": "gpt-4o"}, "messages"),
        ({"model": "gpt-4o", "messages": []}, "messages"),
        ({"model": "gpt-4o", "messages": "hi"}, "messages"),
        ({"model": "gpt-4o", "messages": ["hi"]}, "messages[0]"),
        ({"model": "gpt-4o", "messages": [{"content": "hi"}]}, "messages[0].role"),
        ({"model": "gpt-4o", "messages": [user(42)]}, "messages[0].content"),
        ({"model": "gpt-4o", "messages": [user(["hi"])]}, "messages[0].content[0]"),
    ],
)
def test_what_is_no_chat_request_is_refused(payload: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as caught:
        count_chat_input(payload)
    assert caught.value.param == param


def test_a_body_that_is_no_object_is_refused() -> None:
    with pytest.raises(BadRequest):
        count_chat_input([user("hi")])  # type: ignore[arg-type]


# -- images ----------------------------------------------------------------------------------


def data_url(mime: str, head: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(head + bytes(64)).decode()}"


def png(width: int, height: int) -> str:
    ihdr = b"\0\0\0\rIHDR" + struct.pack(">II", width, height)
    return data_url("image/png", b"\x89PNG\r\n\x1a\n" + ihdr)


def jpeg(width: int, height: int) -> str:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0" + bytes(9)
    sof0 = b"\xff\xc0" + struct.pack(">HBHH", 17, 8, height, width)
    return data_url("image/jpeg", b"\xff\xd8" + app0 + sof0)


def gif(width: int, height: int) -> str:
    return data_url("image/gif", b"GIF89a" + struct.pack("<HH", width, height))


def webp(width: int, height: int) -> str:
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4)
    size = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return data_url("image/webp", b"RIFF" + bytes(4) + b"WEBP" + vp8x + size)


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [(1024, 1024, 765), (2048, 4096, 1105), (4096, 8192, 1105), (512, 512, 255), (100, 100, 255)],
)
def test_images_cost_openais_tiles(width: int, height: int, tokens: int) -> None:
    assert tile_tokens(width, height) == tokens


@pytest.mark.parametrize("make", [png, jpeg, gif, webp])
def test_image_size_is_read_from_a_data_url(make: Any) -> None:
    assert image_size(make(2048, 4096)) == (2048, 4096)
    assert image_tokens(make(2048, 4096)) == 1105


def test_images_without_a_readable_size_or_at_low_detail() -> None:
    assert image_tokens(png(4096, 8192), "low") == 85
    assert image_tokens("https://example.com/cat.png") == 765  # never fetched: 1024x1024
    assert image_tokens("data:image/png;base64,!!!") == 765
    assert image_tokens(data_url("image/bmp", b"BM")) == 765


def test_image_parts_are_counted() -> None:
    text = count_chat_input(chat(user([{"type": "text", "text": "What is this?"}])))
    image = {"type": "image_url", "image_url": {"url": png(1024, 1024), "detail": "high"}}
    low = {"type": "image_url", "image_url": {"url": png(1024, 1024), "detail": "low"}}
    both = [{"type": "text", "text": "What is this?"}, image, low]
    assert count_chat_input(chat(user(both))) == text + 765 + 85


def test_count_tokens_says_exact_and_encoding_by_the_model() -> None:
    hi = {"messages": [{"role": "user", "content": "hi"}]}
    assert count_tokens("gpt-4o", chat=hi) == TokenCount(8, True, "o200k_base")
    assert count_tokens("openai/gpt-4", chat=hi) == TokenCount(8, True, "cl100k_base")
    assert count_tokens("llama-3.3-70b", chat=hi) == TokenCount(8, False, "o200k_base")
    # the chat's own `model` is not what counts: the model passed is
    assert count_tokens("gpt-4", chat={**hi, "model": "gpt-4o"}).encoding == "cl100k_base"
    # text is its tokens alone, no message framing
    assert count_tokens("gpt-4o", text="hello world") == TokenCount(2, True, "o200k_base")
    assert count_tokens("qwen3-coder", text="") == TokenCount(0, False, "o200k_base")
