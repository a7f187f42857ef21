"""Every error leaves as `application/problem+json` (RFC 9457), from this one place.

Messages say what to fix; nothing internal (stack traces, SQL, internal text) is ever in
them: unexpected errors are logged and answered with a generic 500.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

__all__ = ["ApiError", "init_app", "problem"]

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class ApiError(Exception):
    """An error the client can act on: status, a title, a detail, and extra members
    (e.g. `errors` naming the fields)."""

    def __init__(self, status: int, detail: str, *, title: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.headers = headers or {}
        self.extra = extra


def problem(status: int, detail: str, title: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """Return a problem+json response."""
    from http import HTTPStatus

    body = {"type": "about:blank", "title": title or HTTPStatus(status).phrase,
            "status": status, "detail": detail, **extra}
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def init_app(app: Flask) -> None:
    """Register the handlers that turn exceptions into problem+json."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return problem(error.status, error.detail, error.title, error.headers, **error.extra)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        detail = error.description or ""
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        return problem(status, detail, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unexpected error")
        return problem(500, "An unexpected error occurred; it has been logged.")
