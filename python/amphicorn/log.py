"""Logging set-up: amphicorn's loggers write to stderr at the chosen level, as text or JSON,
or as a logging configuration file says.

``amphicorn.error`` carries server events and app tracebacks (as gunicorn's error log);
``trace`` is a level below ``debug`` for wire-level detail, as in uvicorn. The access log is
not a Python logger: Rust writes it (see ``src/server/access_log.rs``).
"""

from __future__ import annotations

import datetime
import json
import logging
import logging.config
import sys
from typing import Any

from amphicorn.errors import LogConfigError

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}

FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"

logger = logging.getLogger("amphicorn.error")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, process, message (and traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, log_format: str = "text", config_file: str | None = None) -> None:
    """Sends the ``amphicorn`` loggers to stderr at ``level`` (as ``log_format``), or applies
    ``config_file`` instead, which then decides levels, handlers and formats."""
    if config_file is not None:
        apply_config_file(config_file)
        return
    root = logging.getLogger("amphicorn")
    root.setLevel(LEVELS[level])
    if not any(getattr(handler, "_amphicorn", False) for handler in root.handlers):
        stderr = logging.StreamHandler(sys.stderr)
        stderr._amphicorn = True  # type: ignore[attr-defined]
        root.addHandler(stderr)
    for handler in root.handlers:
        if getattr(handler, "_amphicorn", False):
            if log_format == "json":
                handler.setFormatter(JsonFormatter())
            else:
                handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S %z"))
    root.propagate = False


def apply_config_file(path: str) -> None:
    """dictConfig from ``.json`` or ``.yaml``/``.yml`` (PyYAML needed), fileConfig otherwise."""
    try:
        _apply_config_file(path)
    except LogConfigError:
        raise
    except Exception as error:  # Any failure of the file is for the user to fix.
        raise LogConfigError(f"log_config {path!r}: {type(error).__name__}: {error}") from None


def _apply_config_file(path: str) -> None:
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as file:
            logging.config.dictConfig(json.load(file))
    elif path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise LogConfigError(f"log_config {path!r}: a YAML file needs PyYAML (pip install pyyaml)") from None
        with open(path, encoding="utf-8") as file:
            logging.config.dictConfig(yaml.safe_load(file))
    else:
        logging.config.fileConfig(path, disable_existing_loggers=False)
