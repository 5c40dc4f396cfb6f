"""Vectors for reading token usage from Chat and Responses replies, whole and per chunk."""

import json

import pytest

from protocols.usage import (
    Usage,
    usage_of_chunk,
    usage_of_completion,
    usage_of_completion_body,
    usage_of_response,
    usage_of_response_event,
)

OPENAI_CHAT_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0},
}

RESPONSES_USAGE = {
    "input_tokens": 328,
    "input_tokens_details": {"cached_tokens": 128},
    "output_tokens": 52,
    "output_tokens_details": {"reasoning_tokens": 40},
    "total_tokens": 380,
}


def test_chat_usage_with_every_detail() -> None:
    assert Usage.from_chat(OPENAI_CHAT_USAGE) == Usage(
        input=1200, output=300, reasoning=192, cached=1024
    )


def test_chat_usage_without_details_leaves_them_unknown() -> None:
    usage = Usage.from_chat({"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12})
    assert usage == Usage(input=9, output=3, reasoning=None, cached=None)
    assert usage.total == 12
    assert usage.known


def test_deepseek_cache_hits_count_as_cached() -> None:
    usage = Usage.from_chat(
        {
            "prompt_tokens": 100,
            "completion_tokens": 7,
            "prompt_cache_hit_tokens": 64,
            "prompt_cache_miss_tokens": 36,
        }
    )
    assert usage == Usage(input=100, output=7, cached=64)


def test_openai_details_win_over_deepseek_fields() -> None:
    usage = Usage.from_chat(
        {
            "prompt_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 4},
            "prompt_cache_hit_tokens": 8,
        }
    )
    assert usage.cached == 4


@pytest.mark.parametrize(
    "junk",
    [
        None,
        "12",
        -3,
        1.5,
        float("nan"),
        float("inf"),
        True,
        [5],
        {"n": 5},
    ],
)
def test_a_junk_count_reads_as_unknown(junk: object) -> None:
    usage = Usage.from_chat(
        {
            "prompt_tokens": junk,
            "completion_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": junk},
            "completion_tokens_details": {"reasoning_tokens": junk},
        }
    )
    assert usage == Usage(output=4)


def test_a_whole_float_count_is_taken() -> None:
    assert Usage.from_chat({"prompt_tokens": 12.0, "completion_tokens": 0}) == Usage(
        input=12, output=0
    )


@pytest.mark.parametrize("junk", [None, "usage", 7, [], ["prompt_tokens"]])
def test_a_junk_usage_object_reads_as_empty(junk: object) -> None:
    assert Usage.from_chat(junk) == Usage()
    assert Usage.from_responses(junk) == Usage()
    assert not Usage().known
    assert Usage().total == 0


@pytest.mark.parametrize("junk", [None, "x", 3, [1]])
def test_junk_details_are_ignored(junk: object) -> None:
    usage = Usage.from_chat(
        {
            "prompt_tokens": 5,
            "completion_tokens": 6,
            "prompt_tokens_details": junk,
            "completion_tokens_details": junk,
        }
    )
    assert usage == Usage(input=5, output=6)


def test_responses_usage() -> None:
    assert Usage.from_responses(RESPONSES_USAGE) == Usage(
        input=328, output=52, reasoning=40, cached=128
    )
    assert Usage.from_responses({"input_tokens": 3, "output_tokens_details": None}) == Usage(
        input=3
    )


def test_a_whole_completion() -> None:
    reply = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
        "usage": OPENAI_CHAT_USAGE,
    }
    expected = Usage(input=1200, output=300, reasoning=192, cached=1024)
    assert usage_of_completion(reply) == expected
    assert usage_of_completion_body(json.dumps(reply).encode()) == expected


@pytest.mark.parametrize(
    "body",
    [
        b'{"choices": []}',
        b'{"choices": [], "usage": null}',
        b'{"choices": [], "usage": "lots"}',
        b'["usage"]',
        b'{"usage": {"prompt_tokens": 1}',  # cut short
        b'\xff"usage"',  # not UTF-8
        b"",
    ],
)
def test_a_completion_without_usable_usage(body: bytes) -> None:
    assert usage_of_completion_body(body) is None


def test_a_completion_body_without_the_word_is_not_decoded() -> None:
    # not JSON at all: had it been decoded, it would still be None, but this shows the
    # shortcut does not depend on the body being valid
    assert usage_of_completion_body(b"{{{ no usage here") is None


def test_openai_last_stream_chunk() -> None:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29},
    }
    assert usage_of_chunk(chunk) == Usage(input=19, output=10)


def test_a_chunk_with_null_usage_has_none() -> None:
    chunk = {"choices": [{"index": 0, "delta": {"content": "x"}}], "usage": None}
    assert usage_of_chunk(chunk) is None
    assert usage_of_chunk({"choices": []}) is None
    assert usage_of_chunk("usage") is None


def test_usage_on_a_chunk_that_also_has_choices() -> None:
    chunk = {
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2},
    }
    assert usage_of_chunk(chunk) == Usage(input=4, output=2)


def test_groq_usage_rides_on_x_groq() -> None:
    chunk = {
        "id": "chatcmpl-g",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
        "x_groq": {
            "id": "req_01",
            "usage": {
                "queue_time": 0.02,
                "prompt_tokens": 38,
                "prompt_time": 0.004,
                "completion_tokens": 120,
                "completion_time": 0.1,
                "total_tokens": 158,
                "total_time": 0.104,
            },
        },
    }
    assert usage_of_chunk(chunk) == Usage(input=38, output=120)


def test_top_level_usage_wins_over_x_groq() -> None:
    chunk = {
        "choices": [],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        "x_groq": {"usage": {"prompt_tokens": 2, "completion_tokens": 2}},
    }
    assert usage_of_chunk(chunk) == Usage(input=1, output=1)
    assert usage_of_chunk({"choices": [], "x_groq": {"id": "r"}}) is None
    assert usage_of_chunk({"choices": [], "x_groq": "weird"}) is None


def test_a_response_object_and_its_terminal_events() -> None:
    response = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "usage": RESPONSES_USAGE,
    }
    expected = Usage(input=328, output=52, reasoning=40, cached=128)
    assert usage_of_response(response) == expected
    for kind in ("response.completed", "response.incomplete", "response.failed"):
        assert usage_of_response_event({"type": kind, "response": response}) == expected


def test_other_responses_events_carry_no_usage() -> None:
    in_progress = {"id": "resp_1", "status": "in_progress", "usage": None}
    assert usage_of_response_event({"type": "response.created", "response": in_progress}) is None
    assert usage_of_response_event({"type": "response.output_text.delta", "delta": "x"}) is None
    assert usage_of_response_event({"type": "response.completed", "response": "x"}) is None
    assert usage_of_response_event({"type": "response.completed"}) is None
    assert usage_of_response_event(["response.completed"]) is None
    assert usage_of_response({"usage": None}) is None
