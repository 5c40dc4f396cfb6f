import pytest

from protocols import jsoncodec
from protocols.chat import ChatRequest, check_completion, inspect_chunk
from protocols.errors import BadRequest
from protocols.failures import FailureClass


def body(**fields: object) -> bytes:
    return jsoncodec.dumps(fields)


def test_a_request_keeps_unknown_fields_and_rewrites_only_the_model() -> None:
    request = ChatRequest.from_body(
        body(
            model="coding-elite",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
            x_custom=[1],
        )
    )
    assert (request.model, request.stream, request.include_usage) == ("coding-elite", True, True)
    upstream = jsoncodec.loads(request.body_for("m-large"))
    assert upstream == {
        "model": "m-large",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "x_custom": [1],
    }


@pytest.mark.parametrize(
    ("raw", "param", "fragment"),
    [
        (b"", None, "empty"),
        (b"{not json", None, "not valid JSON"),
        (b"\xff\xfe{}", None, "UTF-8"),
        (b"[1, 2]", None, "JSON object"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model", "model"),
        (b'{"model": 5, "messages": []}', "model", "non-empty string"),
        (b'{"model": "' + b"m" * 257 + b'", "messages": [{}]}', "model", "longer than 256"),
        (b'{"model": "m"}', "messages", "required"),
        (b'{"model": "m", "messages": []}', "messages", "non-empty array"),
        (b'{"model": "m", "messages": ["hi"]}', "messages[0]", "object"),
        (b'{"model": "m", "messages": [{}], "stream": "yes"}', "stream", "boolean"),
        (b"[" * 100_000 + b"]" * 100_000, None, ""),
    ],
)
def test_bad_requests_name_the_problem(raw: bytes, param: str | None, fragment: str) -> None:
    with pytest.raises(BadRequest) as caught:
        ChatRequest.from_body(raw)
    assert caught.value.param == param
    assert fragment in caught.value.message
    assert caught.value.status == 400


def chunk(delta: dict, finish: str | None = None) -> str:
    return jsoncodec.dumps(
        {
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    ).decode()


def test_which_chunks_carry_content() -> None:
    assert not inspect_chunk(chunk({"role": "assistant", "content": ""})).content
    assert inspect_chunk(chunk({"content": "Hel"})).content
    assert inspect_chunk(chunk({"reasoning_content": "think"})).content
    assert inspect_chunk(chunk({"reasoning": "think"})).content
    assert inspect_chunk(chunk({"tool_calls": [{"index": 0, "id": "call_1"}]})).content
    finished = inspect_chunk(chunk({}, "stop"))
    assert finished.content and finished.finish_reason == "stop"
    usage = inspect_chunk(jsoncodec.dumps({"choices": [], "usage": {"total_tokens": 3}}).decode())
    assert not usage.content and usage.finish_reason is None
    assert inspect_chunk('{"usage": {"total_tokens": 3}}').content is False


def test_error_and_malformed_chunks() -> None:
    error = inspect_chunk('{"error": {"message": "rate limited", "code": "rate_limit_exceeded"}}')
    assert error.error is not None and error.error.failure is FailureClass.RATE_LIMIT
    for bad in ("not json", "[1]", '{"id": "x"}', '{"choices": {}}', '{"choices": [1]}'):
        with pytest.raises(ValueError):
            inspect_chunk(bad)


def test_completion_bodies() -> None:
    assert check_completion(body(choices=[{"message": {"content": "hi"}}])) is None
    for bad, kind in [
        (b"<html>", FailureClass.MALFORMED),
        (b"[]", FailureClass.MALFORMED),
        (body(id="x"), FailureClass.MALFORMED),
        (body(error={"message": "overloaded"}), FailureClass.SERVER),
    ]:
        failure = check_completion(bad)
        assert failure is not None and failure.failure is kind


def test_an_upstream_body_is_encoded_once_per_model_and_usage_ask() -> None:
    """A retry with another key sends the bytes already made: a large payload is not
    encoded again for each attempt."""
    messages = [{"role": "user", "content": "hi"}]
    request = ChatRequest.from_body(body(model="vm", messages=messages, stream=True))
    first = request.body_for("m")
    assert request.body_for("m") is first
    asked = request.body_for("m", ask_usage=True)
    assert asked is not first and request.body_for("m", ask_usage=True) is asked
    assert jsoncodec.loads(asked)["stream_options"] == {"include_usage": True}
    assert "stream_options" not in jsoncodec.loads(first)
    assert jsoncodec.loads(request.body_for("other"))["model"] == "other"
    assert request == ChatRequest.from_body(body(model="vm", messages=messages, stream=True))
