"""Logging set-up: loguru to stderr, never with variable values in tracebacks (they can hold
secrets), and the standard library's loggers routed through it."""

from __future__ import annotations

import logging
import sys

from loguru import logger


class _ToLoguru(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def configure(level: str = "INFO") -> None:
    logger.remove()
    logger.add(
        sys.stderr,
        level=level.upper(),
        diagnose=False,
        backtrace=False,
        format="<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> {message}",
    )
    logging.basicConfig(handlers=[_ToLoguru()], level=logging.WARNING, force=True)
