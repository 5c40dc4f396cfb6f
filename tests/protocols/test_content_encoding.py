import gzip
import zlib

import pytest

from protocols.content_encoding import PIECE, BodyDecoder, EncodingError

TEXT = b'{"choices": []}' * 1000


def decode_in(decoder: BodyDecoder, data: bytes, size: int) -> list[bytes]:
    return [
        p for start in range(0, len(data), size) for p in decoder.decode(data[start : start + size])
    ]


@pytest.mark.parametrize("size", [1, 7, 1000, 1 << 20])
@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("", lambda b: b),
        ("identity", lambda b: b),
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("GZIP ", gzip.compress),
    ],
)
def test_a_body_decodes_however_it_is_split(coding, encode, size: int) -> None:
    assert b"".join(decode_in(BodyDecoder(coding), encode(TEXT), size)) == TEXT


def test_a_bomb_comes_out_in_bounded_pieces() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MiB in about 64 KiB
    assert len(bomb) < 128 * 1024
    decoder = BodyDecoder("gzip")
    pieces = decoder.decode(bomb)
    taken = 0
    for piece in pieces:
        assert len(piece) <= PIECE
        taken += len(piece)
        if taken > (1 << 20):
            break  # the caller's cap: nothing past it was decoded
    assert taken <= (1 << 20) + PIECE


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, gzip", "gzip, br"])
def test_codings_baton_did_not_ask_for_are_refused(coding: str) -> None:
    with pytest.raises(EncodingError, match="did not ask for"):
        BodyDecoder(coding)


def test_bytes_that_do_not_decode_are_refused() -> None:
    with pytest.raises(EncodingError, match="does not decode"):
        list(BodyDecoder("gzip").decode(b"not gzip at all"))
