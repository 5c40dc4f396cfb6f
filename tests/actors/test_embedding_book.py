"""Which embedding requests wait together, and for how long: exact times, no clock."""

from actors.embedding_book import BatchBook


def test_a_batch_waits_its_window_then_goes() -> None:
    book: BatchBook[str] = BatchBook(window=0.01, max_inputs=8)
    assert book.add("k", "a", 1, now=100.0) == []
    assert book.add("k", "b", 2, now=100.004) == []
    assert book.next_due() == 100.01
    assert book.due(100.009) == []
    [batch] = book.due(100.01)
    assert batch.members == ["a", "b"] and batch.inputs == 3
    assert book.next_due() is None


def test_keys_do_not_mix_and_each_has_its_own_window() -> None:
    book: BatchBook[str] = BatchBook(window=1.0, max_inputs=8)
    book.add("k1", "a", 1, now=0.0)
    book.add("k2", "b", 1, now=0.5)
    assert [b.members for b in book.due(1.0)] == [["a"]]
    assert [b.members for b in book.due(1.5)] == [["b"]]


def test_a_full_batch_goes_at_once_and_an_overflow_opens_the_next() -> None:
    book: BatchBook[str] = BatchBook(window=1.0, max_inputs=4)
    assert book.add("k", "a", 3, now=0.0) == []
    [full] = book.add("k", "b", 2, now=0.1)  # 3 + 2 > 4: a goes alone, b opens the next
    assert full.members == ["a"]
    [exact] = book.add("k", "c", 2, now=0.2)  # b + c make 4: full, goes now
    assert exact.members == ["b", "c"]
    assert book.next_due() is None


def test_a_large_request_or_no_window_never_waits() -> None:
    book: BatchBook[str] = BatchBook(window=1.0, max_inputs=4)
    [alone] = book.add("k", "big", 4, now=0.0)
    assert alone.members == ["big"] and alone.due == 0.0
    unbatched: BatchBook[str] = BatchBook(window=0.0, max_inputs=4)
    assert [b.members for b in unbatched.add("k", "a", 1, now=0.0)] == [["a"]]


def test_drain_takes_every_open_batch() -> None:
    book: BatchBook[str] = BatchBook(window=1.0, max_inputs=8)
    book.add("k1", "a", 1, now=0.0)
    book.add("k2", "b", 1, now=0.0)
    assert sorted(m for b in book.drain() for m in b.members) == ["a", "b"]
    assert book.next_due() is None
