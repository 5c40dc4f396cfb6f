"""Rules of the house that a reviewer should not have to check by eye."""

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("actors", "edge", "protocols", "config")
# I/O, event loops and logging: none of these may be imported by protocols/ (nor config/).
IMPURE = {
    "trio",
    "trio_websocket",
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "quart",
    "quart_trio",
    "hypercorn",
    "loguru",
    "coredis",
}
# A path to something beside the repository (the shared folder next to the clone, relative or
# absolute) works on one machine and fails in CI's fresh clone; the `"shared" / ...` form is
# how such a path was once spelt.
OUTSIDE = re.compile(rb"""\.\./shared\b|/work/shared\b|["']shared["']\s*/""")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_protocols_are_pure() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & IMPURE)
        for path in (ROOT / "protocols").rglob("*.py")
        if imported_modules(path) & IMPURE
    }
    assert offenders == {}


def test_config_opens_no_sockets() -> None:
    offenders = [
        str(path)
        for path in (ROOT / "config").rglob("*.py")
        if imported_modules(path) & (IMPURE | {"socket"})
    ]
    assert offenders == []


@pytest.mark.skipif(
    shutil.which("ruff") is None and sys.prefix == sys.base_prefix,
    reason="ruff is installed with the test extra",
)
def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--quiet", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None, reason="mypy is installed with the test extra"
)
def test_mypy_is_clean() -> None:
    """Types hold in the four packages, under pyproject.toml's [tool.mypy] (strict)."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", *PACKAGES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def tracked_files() -> list[Path]:
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout, or no git: {exc}")
    return [ROOT / name for name in listing.decode().split("\0") if name]


def test_nothing_refers_outside_the_repository() -> None:
    """The suite runs from a fresh clone with nothing beside it: vendor what is needed."""
    offenders = []
    for path in tracked_files():
        if path == Path(__file__).resolve() or not path.is_file():
            continue
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if OUTSIDE.search(line):
                text = line.decode(errors="replace").strip()
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {text}")
    assert offenders == []
