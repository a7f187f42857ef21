"""Log configuration: one JSON object per line (production), or plain text (a terminal).

Every record carries `time`, `level`, `logger` and `message`, plus whatever the caller put
in `extra` (the request log adds `request_id`, `method`, `path`, `status`,
`duration_ms`); records written while a request is served carry its `request_id`.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any, Literal

from flask import g, has_request_context

__all__ = ["LogFormat", "RequestIdFilter", "configure_logging", "logging_config"]

LogFormat = Literal["json", "text"]

_JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds the id of the request being served (if any) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") and has_request_context():
            request_id = g.get("request_id")
            if request_id:
                record.request_id = request_id
        return True


def logging_config(fmt: LogFormat = "json", level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` document: the root logger and gunicorn's loggers
    write to stderr in `fmt` (gunicorn takes it as its `logconfig_dict`)."""
    formatter: dict[str, Any]
    if fmt == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": _JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        }
    else:
        formatter = {"format": _TEXT_FORMAT}
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
               "formatter": "main", "filters": ["request_id"]}
    # gunicorn's own loggers keep their records to themselves (propagate off), as
    # gunicorn sets them up; its access log stays off: the app logs each request itself,
    # with its request id
    gunicorn = {"level": level, "handlers": ["stderr"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"main": formatter},
        "handlers": {"stderr": handler},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {"gunicorn.error": gunicorn,
                    "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
                    # the cluster clients log every request at INFO
                    "opensearch": {"level": "WARNING"},
                    "elastic_transport": {"level": "WARNING"}},
    }


def configure_logging(fmt: LogFormat = "json", level: str = "INFO") -> None:
    """Send every log record to stderr in `fmt`."""
    logging.config.dictConfig(logging_config(fmt, level))
