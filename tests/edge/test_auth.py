"""Client keys: which one a request carries is its id in telemetry, never the key itself."""

import pytest

from edge.auth import check_client
from protocols.errors import Unauthorized

KEYS = (b"first-key", b"second-key")


def test_the_id_is_the_keys_place_in_the_configured_list() -> None:
    assert check_client({"authorization": "Bearer second-key"}, KEYS) == "client#2"
    assert check_client({"x-api-key": "first-key"}, KEYS) == "client#1"


def test_an_open_gateway_has_no_client_ids() -> None:
    assert check_client({}, ()) is None


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer nope"}, {"authorization": "Basic first-key"}]
)
def test_a_missing_or_wrong_key_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized):
        check_client(headers, KEYS)
