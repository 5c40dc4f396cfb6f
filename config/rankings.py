"""The top-level `model_rankings:`: scores per model that `order: ranked` chains follow.

The fork of the original proxy ordered its virtual models by benchmark scores
(`auto_order` with a `model_rankings.yaml`, SWE-bench for coding chains). baton reads the
scores inline, from a file, or both (inline ones win):

```yaml
model_rankings:
  metric: swe_bench                 # which score of the file's to use (default: the only one)
  file: model_rankings.yaml         # relative to this config file
  scores: {"qwen-3-coder-480b": 69.6, "claude-sonnet-4-5*": 77.2}
```

The file is either a plain mapping (`model: score`) or the fork's shape, a `models:` list of
`{id, scores: {metric: value}}`. Names match case-insensitively a candidate's `provider/model`
or its model, with or without vendor prefixes (`groq/moonshotai/kimi-k2` is also
`moonshotai/kimi-k2` and `kimi-k2`), and may be fnmatch patterns. A higher score goes first; see
`actors.routing`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from config.reader import Reader, child, kind
from config.settings import Rankings

FIELDS = ("metric", "file", "scores")


def read_rankings(reader: Reader, value: object, base_dir: Path | None, path: str) -> Rankings:
    fields = reader.mapping(value, path, allowed=FIELDS)
    if not fields:
        return Rankings()
    metric = fields.get("metric")
    if metric is not None and not isinstance(metric, str):
        reader.fail(child(path, "metric"), f"expected a score's name, got {kind(metric)}")
        metric = None
    scores: dict[str, float] = {}
    if fields.get("file") is not None:
        scores.update(_file_scores(reader, fields["file"], base_dir, metric, child(path, "file")))
    inline = reader.mapping(fields.get("scores"), child(path, "scores")) or {}
    for name, score in inline.items():
        number = reader.number(score, child(child(path, "scores"), name), "expected a number")
        if number is not None:
            scores[name.lower()] = number
    return Rankings(tuple(scores.items()))


def _file_scores(
    reader: Reader, value: object, base_dir: Path | None, metric: str | None, path: str
) -> dict[str, float]:
    if not isinstance(value, str) or not value.strip():
        reader.fail(path, f"expected a file name, got {kind(value)}")
        return {}
    file = Path(value)
    if not file.is_absolute() and base_dir is not None:
        file = base_dir / file
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reader.fail(path, f"cannot read {file}: {type(exc).__name__}")
        return {}
    models = document.get("models") if isinstance(document, dict) else None
    if models is None and isinstance(document, dict):
        pairs: list[tuple[Any, Any]] = list(document.items())
    elif isinstance(models, list):
        pairs = [_fork_entry(item, metric) for item in models]
    else:
        reader.fail(path, "expected a mapping of model: score, or a `models:` list")
        return {}
    scores: dict[str, float] = {}
    for name, score in pairs:
        if isinstance(name, str) and isinstance(score, int | float) and not isinstance(score, bool):
            scores[name.lower()] = float(score)
        elif name is not None:
            reader.warn(path, f"{file}: no usable score for {name!r}; left unranked")
    return scores


def _fork_entry(item: Any, metric: str | None) -> tuple[Any, Any]:
    """(id, score) of one entry of the fork's `models:` list."""
    if not isinstance(item, dict):
        return None, None
    scores = item.get("scores")
    if not isinstance(scores, dict):
        return item.get("id"), None
    if metric is None:
        return item.get("id"), next(iter(scores.values())) if len(scores) == 1 else None
    return item.get("id"), scores.get(metric)
