"""The redaction patterns, the secret scrubbing they sit beside, and the request-id rule."""

import re

import pytest

from edge.incoming import Incoming
from edge.request_ids import fresh_request_id, request_id_from, valid_request_id
from protocols.redact import Redactor, redact_headers, scrub, scrub_patterns

UPSTREAM = "sk-alpha-SECRET-0123456789"
CLIENT = "client-SECRET-key-42"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-123", "Authorization: ***"),
        ("authorization: Token xyz", "authorization: ***"),
        ('{"authorization": "Basic QWxhZGRpbjpvcGVu"}', '{"authorization": "***"}'),
        ("sent Bearer eyJhbGciOiJIUzI1NiJ9.e30 upstream", "sent Bearer *** upstream"),
        ("x-api-key: hello-there", "x-api-key: ***"),
        ("'x-goog-api-key': 'AIzaSyA-1'", "'x-goog-api-key': '***'"),
        ("api_key=abc123 next", "api_key=*** next"),
        ("api-key: abc", "api-key: ***"),
        ("POST /v1/chat/completions?key=abc&b=1", "POST /v1/chat/completions?key=***&b=1"),
        ("GET /x?a=1&token=zz#frag", "GET /x?a=1&token=***#frag"),
        ("GET /x?access_token=t1&api-key=t2", "GET /x?access_token=***&api-key=***"),
        ("https://user:pw@host.example/v1", "https://***@host.example/v1"),
        ("key sk-proj-abcdefghijklmnopqrstuvwx pasted", "key *** pasted"),
        ("sk-ant-api03-AAAAAAAAAAAAAAAAAAAA", "***"),
    ],
)
def test_credential_patterns_are_replaced(text: str, expected: str) -> None:
    assert scrub_patterns(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the bearer of bad news",  # a word, not a token
        "monkey=1&turkey=2",  # parameters that merely end in "key", outside a query
        "GET /x?monkey=1",
        "ask-me-anything task-force sk-short",
        "basic arithmetic",
        "key alias alpha#1 cooled for 30s",
        "authorization failed for alpha#1",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub_patterns(text) == text


def test_known_secrets_their_echoed_ends_and_patterns_all_go() -> None:
    redactor = Redactor([UPSTREAM, CLIENT, None, "abc"])  # None and too-short ones ignored
    text = f"{UPSTREAM} then {UPSTREAM[:12]}...{UPSTREAM[-8:]} and {CLIENT}, x-api-key: other"
    assert redactor.text(text) == "*** then ***...*** and ***, x-api-key: ***"
    assert redactor.secrets == (UPSTREAM, CLIENT)


def test_a_secret_inside_another_is_replaced_longest_first() -> None:
    redactor = Redactor(["short-SECRET", "short-SECRET-and-longer"])
    assert redactor.text("x short-SECRET-and-longer y short-SECRET") == "x *** y ***"


def test_values_are_scrubbed_through_dicts_and_lists() -> None:
    redactor = Redactor([CLIENT])
    value = {"a": [CLIENT, 3, {"b": f"Bearer {CLIENT}"}], "n": None, "t": (CLIENT,)}
    assert redactor.value(value) == {"a": ["***", 3, {"b": "Bearer ***"}], "n": None, "t": ["***"]}
    assert value["a"][0] == CLIENT  # a copy: the original is untouched


def test_scrub_keeps_its_old_contract() -> None:
    assert scrub(f"key {UPSTREAM} refused", [UPSTREAM]) == "key *** refused"
    assert scrub("nothing here", [None, ""]) == "nothing here"


def test_credential_headers_lose_their_values_only() -> None:
    headers = {
        "Authorization": "Bearer x",
        "x-api-key": "y",
        "cookie": "session=z",
        "content-type": "application/json",
        "x-request-id": "abc",
    }
    assert redact_headers(headers) == {
        "Authorization": "***",
        "x-api-key": "***",
        "cookie": "***",
        "content-type": "application/json",
        "x-request-id": "abc",
    }


# -- request ids -----------------------------------------------------------------------------

FRESH = re.compile(r"req_[0-9a-f]{24}")


@pytest.mark.parametrize(
    "given", ["abc", "A.b_c:d-9", "x" * 128, "0", "trace-3f2a.span:17", "req_0123456789abcdef"]
)
def test_a_sane_client_request_id_is_kept(given: str) -> None:
    assert valid_request_id(given)
    assert request_id_from([(b"x-request-id", given.encode())]) == given


@pytest.mark.parametrize(
    "given",
    ["", "x" * 129, "has space", "a/b", "a\nb", "é", "semi;colon", "../etc", "a%2F", "a\tb"],
)
def test_anything_else_gets_a_fresh_id(given: str) -> None:
    assert not valid_request_id(given)
    assert FRESH.fullmatch(request_id_from([(b"x-request-id", given.encode())]))


def test_fresh_ids_differ() -> None:
    ids = {fresh_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(FRESH.fullmatch(one) for one in ids)


def test_a_request_without_an_id_header_gets_a_fresh_one() -> None:
    assert FRESH.fullmatch(request_id_from([(b"content-type", b"application/json")]))
    assert request_id_from([(b"X-Request-Id", b"mine-1")]) == "mine-1"


def test_a_request_shows_its_id_and_never_its_headers() -> None:
    mine = Incoming("GET", "/v1/models", "", {"authorization": "Bearer sk-x"}, b"", "mine-1")
    assert "mine-1" in repr(mine) and "sk-x" not in repr(mine)
