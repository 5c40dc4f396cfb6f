"""YAML text to plain Python values, strictly.

PyYAML quietly keeps the last of two equal keys in a mapping, so a second `alpha:` under
`providers:` would silently replace the first; here it is a problem. Syntax errors become
problems naming the line and column. Messages never quote the source text, which may hold a
secret.
"""

from __future__ import annotations

from typing import Any

import yaml

from config.errors import ConfigError, Problem

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[Problem] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Only the mapping's own keys: a key overriding one merged in by `<<:` is intended.
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable; the constructor below reports it
                continue
            if duplicate:
                line = key_node.start_mark.line + 1
                self.duplicates.append(Problem(f"line {line}", f"duplicate key {key!r}"))
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def parse_yaml(text: str, *, source: str | None = None) -> object:
    """The single document in `text` (None when it is empty). Raises `ConfigError`."""
    loader = _StrictLoader(text)
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(exc)], source=source) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("", "invalid YAML")], source=source) from exc
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError(loader.duplicates, source=source)
    return document


def _syntax_problem(exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    message = exc.problem or exc.context or "invalid YAML"
    return Problem(where, f"invalid YAML: {message}")
