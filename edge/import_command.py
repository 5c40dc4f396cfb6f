"""`baton import`: read LLM-API-Key-Proxy's files and print the baton.yaml they amount to.

The conversion is `config.importer`; this reads the files (the `.env` over nothing else: the
process environment is not mixed in, so the output is the file's alone) and reports problems
on stderr with exit status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

import config as baton_config
from config.env import read_environment
from config.importer import import_original


def run_import(
    env: Path, virtual_models: Path | None, router: Path | None, rankings: Path | None
) -> int:
    try:
        if not env.is_file():
            raise OSError(f"{env}: no such file")
        variables = read_environment({}, env)
        documents = [_yaml(path) for path in (virtual_models, router, rankings)]
        text = import_original(variables.variables, *documents)
    except baton_config.ConfigError as error:
        print(f"baton: the .env has problems:\n{error}", file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        print(f"baton: cannot import: {error}", file=sys.stderr)
        return 1
    for warning in variables.warnings:
        print(f"baton: {warning}", file=sys.stderr)
    sys.stdout.write(text)
    return 0


def _yaml(path: Path | None) -> object:
    if path is None:
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8"))
