"""Logging set-up: loguru to stderr, one line per record, human or JSON, never a secret.

Every record passes `_redact` (loguru's core patcher, so every sink gets it) before any sink
sees it: its message, its extra fields and its exception's text are scrubbed of every secret
registered with `register_secrets` (the config's upstream and client keys, at start-up) and of
credential-shaped text (`Authorization: Bearer ...`, `x-api-key: ...`, `?key=...` in URLs,
`sk-...` keys; see `protocols.redact`). Tracebacks are formatted here, without variable values
(they can hold secrets), and scrubbed like the rest.

A record carries `request_id` in its extras while a request is handled (`edge.request_ids`
binds it with `logger.contextualize` around the whole ASGI call, a streamed body included);
both formats show it. Every walk runs in a task of the supervisor's, started in a copy of the
caller's context (`Call.context`), so the walk's lines carry the caller's id too.

`--log-json` writes one JSON object per line: `time` (ISO 8601, UTC), `level`, `message`,
`logger`, `request_id` when bound, then every other extra field (`edge.call_log` puts a
call's whole record there).
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterable
from datetime import UTC
from typing import TYPE_CHECKING, Any, TextIO

import attrs
from loguru import logger

from config.urls import url_password

if TYPE_CHECKING:
    from loguru import Record

from config.model import Config
from protocols.redact import Redactor

_HUMAN = (
    "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "{extra[_prefix]}{message}{extra[_traceback]}"
)
_INTERNAL = ("_prefix", "_traceback")

redactor = Redactor()


@attrs.frozen
class LogOptions:
    """How `baton serve` (and each of its workers) logs."""

    level: str = "INFO"
    json: bool = False


def register_secrets(secrets: Iterable[str | None]) -> None:
    """Secrets to scrub from every log line from now on (idempotent)."""
    redactor.add(secrets)


def config_secrets(config: Config) -> list[str]:
    """Every secret a config holds: upstream keys, client keys, credential-like header values
    sent upstream, outbound proxies' passwords, the shared state's (Redis) password."""
    secrets: list[str] = list(config.server.api_keys)
    for provider in config.providers.values():
        secrets += [key.secret for key in provider.keys if key.secret]
        secrets += [
            value
            for name, value in provider.headers.items()
            if any(word in name.lower() for word in ("auth", "key", "token", "secret"))
        ]
        proxy_password = url_password(provider.proxy)
        if proxy_password:
            secrets.append(proxy_password)
    state_password = url_password(config.state.url)
    if state_password:
        secrets.append(state_password)
    return secrets


def redact(text: str) -> str:
    """`text` scrubbed of every registered secret and credential pattern."""
    return redactor.text(text)


def _redact(record: Record) -> None:
    """The patcher: scrub the message, format (and scrub) a traceback, prepare what the human
    format shows. The extra fields are scrubbed where they are written out: each sink scrubs
    its whole line once, which costs far less than every field of a call record apart."""
    record["message"] = redactor.text(record["message"])
    extra = record["extra"]
    request_id = extra.get("request_id")
    extra["_prefix"] = f"[{request_id}] " if request_id else ""
    exception = record["exception"]
    extra["_traceback"] = ""
    if exception is not None:
        record["exception"] = None  # formatted (and scrubbed) here, not by loguru
        if exception.type is not None:
            text = "".join(
                traceback.format_exception(exception.type, exception.value, exception.traceback)
            )
            extra["_traceback"] = "\n" + redactor.text(text).rstrip("\n")


class TextSink:
    """Writes each formatted line, scrubbed once more as a whole (extra fields included)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, message: Any) -> None:
        self.stream.write(redactor.text(str(message)))
        self.stream.flush()

    def stop(self) -> None:  # loguru calls it on remove(); the stream is not ours to close
        pass


class JsonSink:
    """Writes each record as one JSON object on one line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, message: Any) -> None:
        self.stream.write(redactor.text(json_line(message.record)) + "\n")
        self.stream.flush()

    def stop(self) -> None:  # loguru calls it on remove(); the stream is not ours to close
        pass


def json_line(record: dict[str, Any]) -> str:
    extra = record["extra"]
    line: dict[str, Any] = {
        "time": record["time"].astimezone(UTC).isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "message": record["message"],
        "logger": record["name"],
    }
    if extra.get("request_id"):
        line["request_id"] = extra["request_id"]
    for name, value in extra.items():
        if name.startswith("_") or name in line:
            continue
        if hasattr(value, "as_dict"):  # a call record: its fields are the line's
            line.update((key, field) for key, field in value.as_dict().items() if key not in line)
        else:
            line[name] = value
    if extra.get("_traceback"):
        line["exception"] = extra["_traceback"].lstrip("\n")
    line["time"] = line["time"].replace("+00:00", "Z")
    return json.dumps(line, default=str, ensure_ascii=False)


class _ToLoguru(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def configure(level: str = "INFO", *, json: bool = False, stream: TextIO | None = None) -> None:
    """Log to `stream` (stderr) at `level` and above, as text or one JSON object a line."""
    target = stream or sys.stderr
    logger.remove()
    logger.configure(patcher=_redact, extra={"_prefix": "", "_traceback": ""})
    if json:
        logger.add(JsonSink(target), level=level.upper(), format="{message}", catch=True)
    else:
        logger.add(
            TextSink(target),
            level=level.upper(),
            diagnose=False,
            backtrace=False,
            format=_HUMAN,
            colorize=_is_terminal(target),
        )
    logging.basicConfig(handlers=[_ToLoguru()], level=logging.WARNING, force=True)


def configure_with(options: LogOptions) -> None:
    configure(options.level, json=options.json)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
