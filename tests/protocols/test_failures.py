import pytest

from protocols import jsoncodec
from protocols.failures import (
    FailureClass,
    UpstreamFailure,
    classify_error_object,
    classify_response,
    shown,
)

F = FailureClass


def envelope(message: str, code: str | None = None, type_: str | None = None) -> bytes:
    return jsoncodec.dumps({"error": {"message": message, "code": code, "type": type_}})


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, envelope("slow down", "rate_limit_exceeded"), F.RATE_LIMIT),
        (402, envelope("insufficient credits"), F.RATE_LIMIT),
        (401, envelope("Incorrect API key"), F.AUTH),
        (403, b"", F.AUTH),
        (404, envelope("model not found", "model_not_found"), F.NOT_FOUND),
        (408, b"", F.TIMEOUT),
        (500, envelope("boom"), F.SERVER),
        (503, b"<html>unavailable</html>", F.SERVER),
        (529, envelope("overloaded", type_="overloaded_error"), F.SERVER),
        (
            400,
            envelope(
                "This model's maximum context length is 8192 tokens", "context_length_exceeded"
            ),
            F.CONTEXT_LENGTH,
        ),
        (400, envelope("prompt is too long: 210000 tokens > 200000 maximum"), F.CONTEXT_LENGTH),
        (
            413,
            envelope("Request too large for model: tokens per minute limit 6000"),
            F.CONTEXT_LENGTH,
        ),
        (413, envelope("payload too large"), F.CALLER),
        (400, envelope("Invalid value for 'temperature'", "invalid_value"), F.CALLER),
        (422, envelope("messages: field required"), F.CALLER),
        (400, envelope("quota exceeded", "resource_exhausted"), F.RATE_LIMIT),
    ],
)
def test_status_and_body_map_to_one_class(status: int, body: bytes, expected: FailureClass) -> None:
    failure = classify_response(status, body, {}, now=0.0)
    assert failure.failure is expected
    assert failure.status == status


def test_what_each_class_does_next() -> None:
    assert {c for c in F if c.cools_key} == {F.RATE_LIMIT, F.AUTH}
    assert {c for c in F if c.tries_next_key} == {F.RATE_LIMIT, F.AUTH}
    assert {c for c in F if c.returns_to_caller} == {F.CALLER}


def test_message_code_param_and_retry_after_are_kept() -> None:
    body = jsoncodec.dumps(
        {
            "error": {
                "message": "bad temp",
                "type": "invalid_request_error",
                "param": "temperature",
                "code": "invalid_value",
            }
        }
    )
    failure = classify_response(400, body, {"retry-after": "3"}, now=0.0)
    assert (failure.message, failure.type, failure.param, failure.code, failure.retry_after) == (
        "bad temp",
        "invalid_request_error",
        "temperature",
        "invalid_value",
        3.0,
    )
    assert failure.trail_mark == "400"


def test_odd_bodies() -> None:
    assert classify_response(500, b"not json", {}, now=0).message == "upstream answered HTTP 500"
    gemini = jsoncodec.dumps(
        [
            {
                "error": {
                    "code": 429,
                    "message": "Resource has been exhausted",
                    "status": "RESOURCE_EXHAUSTED",
                }
            }
        ]
    )
    failure = classify_response(429, gemini, {}, now=0)
    assert (failure.failure, failure.message, failure.code) == (
        F.RATE_LIMIT,
        "Resource has been exhausted",
        "429",
    )
    assert classify_response(400, b'{"error": "plain string"}', {}, now=0).message == "plain string"


def test_error_objects_in_a_200_or_a_stream() -> None:
    assert (
        classify_error_object({"message": "x", "code": "rate_limit_exceeded"}).failure
        is F.RATE_LIMIT
    )
    assert (
        classify_error_object({"message": "maximum context length exceeded"}).failure
        is F.CONTEXT_LENGTH
    )
    assert classify_error_object({"message": "internal"}).failure is F.SERVER


KEY = "sk-live-0123456789abcdefghij"


@pytest.mark.parametrize(
    ("field", "echo", "kept"),
    [
        ("code", KEY, None),  # the key itself
        ("code", f"bad key {KEY[:12]}", None),  # not an identifier
        ("code", "rate_limit_exceeded", "rate_limit_exceeded"),
        ("code", "429", "429"),  # Gemini's numeric code
        ("type", f"invalid_request_error: Bearer {KEY}", None),
        ("type", "invalid_request_error", "invalid_request_error"),
        ("type", "x" * 65, None),
        ("param", f"Bearer {KEY}", "Bearer ***"),
        ("param", "messages[0].content", "messages[0].content"),
        ("param", "authorization: Basic dXNlcjpwYXNz", "authorization: ***"),
        ("message", f"Incorrect API key provided: {KEY[:12]}...{KEY[-8:]}", None),
    ],
)
def test_a_failure_is_shown_without_any_echoed_secret(field: str, echo: str, kept: str | None):
    fields = {"message": "bad request", field: echo}
    failure = UpstreamFailure(F.CALLER, status=400, **fields)
    fit = shown(failure, [KEY])
    value = getattr(fit, field)
    if field == "message":
        assert value == "Incorrect API key provided: ***...***"
    else:
        assert value == kept
    assert KEY[:12] not in repr(fit) and KEY[-8:] not in repr(fit)


def test_a_clean_failure_is_shown_as_it_is() -> None:
    failure = classify_response(429, envelope("slow down", "rate_limit_exceeded", "x"), {}, now=0)
    assert shown(failure, [KEY]) is failure
