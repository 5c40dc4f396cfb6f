"""The JSON codec: what it writes, and that a small result holds only its own size."""

from __future__ import annotations

import tracemalloc

import pytest

from protocols import jsoncodec


def held_by(make: object) -> int:
    """Bytes of memory still allocated after `make()`, holding its result."""
    assert callable(make)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = make()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert result
    return after - before


@pytest.mark.parametrize("size", [10, 1_000, 5_000])
def test_a_small_result_holds_its_own_size_not_the_encoders_buffer(size: int) -> None:
    value = {"model": "m", "messages": [{"role": "user", "content": "x" * size}]}
    encoded = jsoncodec.dumps(value)
    held = held_by(lambda: jsoncodec.dumps(value))
    assert held < len(encoded) + 256, (held, len(encoded))  # orjson alone: 4 or 8 KiB
    assert held_by(lambda: jsoncodec.dumps_sorted(value)) < len(encoded) + 256


def test_what_it_writes() -> None:
    assert jsoncodec.dumps({"a": "é", "b": [1, 2.5, None]}) == '{"a":"é","b":[1,2.5,null]}'.encode()
    assert jsoncodec.dumps_sorted({"b": 1, "a": 2}) == b'{"a":2,"b":1}'
    assert jsoncodec.dumps({1: 2}) == b'{"1":2}'
    assert jsoncodec.dumps({"big": 2**70}) == b'{"big":1180591620717411303424}'  # the fallback
    assert jsoncodec.loads(jsoncodec.dumps({"x": "y" * 10_000})) == {"x": "y" * 10_000}
