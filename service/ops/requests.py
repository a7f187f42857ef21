"""Per request: an id, one log line, one latency observation.

The id comes from the caller's `X-Request-ID` when it is a short token (a proxy's or the
ingress's id, so one request can be followed through them), else a new one; it is sent
back in `X-Request-ID`. The log line has the path without its query string (queries are
the user's words, not operations data).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request, request_started

from service.ops.metrics import observe_request

__all__ = ["REQUEST_ID_HEADER", "init_request_log"]

log = logging.getLogger("whoknows.request")

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def init_request_log(app: Flask) -> None:
    """Register the hooks that time, log and count every request."""

    # on the signal, not in before_request: the app's URL value checks run before those
    # hooks and may answer 404 at once; that request is logged and counted all the same
    def _start(sender: Flask, **_: object) -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    request_started.connect(_start, app, weak=False)

    @app.after_request
    def _finish(response: Response) -> Response:
        started = g.get("request_started")
        if started is None:
            return response
        seconds = time.perf_counter() - started
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        observe_request(endpoint, request.method, response.status_code, seconds)
        response.headers[REQUEST_ID_HEADER] = g.request_id
        log.info("request", extra={
            "request_id": g.request_id, "method": request.method, "path": request.path,
            "endpoint": endpoint, "status": response.status_code,
            "duration_ms": round(seconds * 1000, 2),
        })
        return response
