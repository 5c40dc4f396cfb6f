"""Fixtures for the dashboard's browser tests: one headless chromium per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.chromium import MISSING, Browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if MISSING is not None:
        pytest.skip(MISSING)
    window = Browser()
    try:
        yield window
    finally:
        window.quit()
