"""OVERRIDE_TEMPERATURE_ZERO's rewrite, as vectors."""

import pytest

from protocols.temperature import apply_temperature_zero


@pytest.mark.parametrize(
    ("payload", "mode", "expected"),
    [
        ({"model": "m", "temperature": 0}, "remove", {"model": "m"}),
        ({"model": "m", "temperature": 0.0}, "remove", {"model": "m"}),
        ({"model": "m", "temperature": 0}, "set", {"model": "m", "temperature": 1.0}),
        ({"model": "m", "temperature": 0}, "keep", {"model": "m", "temperature": 0}),
        ({"model": "m", "temperature": 0.2}, "remove", {"model": "m", "temperature": 0.2}),
        ({"model": "m", "temperature": 0.2}, "set", {"model": "m", "temperature": 0.2}),
        ({"model": "m"}, "set", {"model": "m"}),
        ({"model": "m", "temperature": False}, "remove", {"model": "m", "temperature": False}),
        ({"model": "m", "temperature": None}, "set", {"model": "m", "temperature": None}),
    ],
)
def test_vectors(payload: dict[str, object], mode: str, expected: dict[str, object]) -> None:
    before = dict(payload)
    assert apply_temperature_zero(payload, mode) == expected
    assert payload == before  # the input is left alone


def test_set_takes_a_value() -> None:
    assert apply_temperature_zero({"temperature": 0}, "set", 0.7) == {"temperature": 0.7}


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown temperature_zero mode 'sometimes'"):
        apply_temperature_zero({"temperature": 0}, "sometimes")
