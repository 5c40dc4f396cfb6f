"""Fixtures for the real-client tests (the skip marks live in `clients`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agents.clients import ClientHome


@pytest.fixture
def client_home(tmp_path: Path) -> ClientHome:
    """A fresh HOME / XDG / CODEX_HOME / working directory under pytest's tmp_path."""
    return ClientHome(tmp_path).create()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "agents: runs a real coding-agent CLI (tests/agents)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.agents)
