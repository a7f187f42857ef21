"""Running whoknows in production: structured logs, Prometheus metrics, request ids.

`init_app(app, engine)` hooks both into the API app: every request gets an id (from a
sane incoming `X-Request-ID`, else a new one, echoed back), one JSON log line and one
latency observation; `/metrics` serves the Prometheus text format.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.engine import Engine

from service.ops.logs import configure_logging, logging_config
from service.ops.metrics import init_metrics
from service.ops.requests import init_request_log

__all__ = ["configure_logging", "init_app", "logging_config"]


def init_app(app: Flask, engine: Engine, metrics_counts_seconds: float) -> None:
    """Register the request id, the request log, the latency histogram and `/metrics`
    (its contribution counts at most `metrics_counts_seconds` old)."""
    init_request_log(app)
    init_metrics(app, engine, metrics_counts_seconds)
