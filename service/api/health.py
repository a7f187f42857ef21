"""Liveness and readiness."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from service.api.errors import ApiError
from service.search.cluster import ClusterExpertIndex

__all__ = ["health"]

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is up."""
    return jsonify(status="ok")


@health.get("/readyz")
def readyz() -> ResponseReturnValue:
    """The store and the index answer; with a search cluster, also how many changes wait in
    the outbox for it (`outbox.pending`, `outbox.oldest_seconds`)."""
    services = current_app.extensions["whoknows"]
    cluster = services.index if isinstance(services.index, ClusterExpertIndex) else None
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            if cluster is None:
                conn.exec_driver_sql("SELECT rowid FROM contribution_fts LIMIT 1")
        state = cluster.status() if cluster else None
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        raise ApiError(503, "the store or the search index is not reachable") from exc
    if state is None:
        return jsonify(status="ready", store="ok", index="ok")
    if not state["ready"]:
        raise ApiError(503, "the search index is not reachable", outbox=state["outbox"])
    return jsonify(status="ready", store="ok", index="ok", outbox=state["outbox"])


OPENAPI_FILE = Path(__file__).resolve().parents[2] / "openapi.yaml"


@health.get("/openapi.yaml")
def openapi() -> ResponseReturnValue:
    """The API contract."""
    return Response(OPENAPI_FILE.read_text(encoding="utf-8"), mimetype="application/yaml")
