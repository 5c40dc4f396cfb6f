"""baton serve fixes glibc's mmap threshold so large buffers are returned when freed."""

import platform

import pytest

from edge.memory import return_large_blocks


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_threshold_is_fixed_on_glibc() -> None:
    assert return_large_blocks() is True
