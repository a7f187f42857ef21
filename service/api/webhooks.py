"""POST /v1/webhooks/discourse/{source}: Discourse tells us a topic changed.

The body is verified against `X-Discourse-Event-Signature` (`sha256=` + HMAC-SHA256 of the
raw body with the source's webhook secret, named by `webhook_secret_env`). The topic it
names is then read through the Discourse connector and stored through the same push path
as any batch, so an edit, a like, an accepted answer or a deletion arrives at once.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from service import pipeline
from service.api.errors import ApiError
from service.connectors import build_connector
from service.connectors.base import ConnectorError
from service.connectors.discourse import DiscourseConnector

__all__ = ["webhooks"]

webhooks = Blueprint("webhooks", __name__)
_EVENTS = ("post_created", "post_edited", "post_destroyed", "post_recovered",
           "topic_created", "topic_edited", "topic_destroyed", "topic_recovered",
           "accepted_solution", "unaccepted_solution", "post_liked")


def _verify(secret: str) -> None:
    signature = request.headers.get("X-Discourse-Event-Signature", "")
    expected = "sha256=" + hmac.new(secret.encode(), request.get_data(), hashlib.sha256
                                    ).hexdigest()
    if not hmac.compare_digest(signature, expected):
        raise ApiError(401, "X-Discourse-Event-Signature does not match the body",
                       headers={"WWW-Authenticate": 'HMAC realm="discourse-webhook"'})


def _topic_id(payload: Any) -> int | None:
    if not isinstance(payload, dict):
        return None
    for key in ("post", "topic", "solved", "like"):
        item = payload.get(key)
        if isinstance(item, dict):
            value = item.get("topic_id") if key != "topic" else item.get("id")
            if key == "like" and isinstance(item.get("post"), dict):
                value = item["post"].get("topic_id")
            if isinstance(value, int):
                return value
    return None


@webhooks.post("/webhooks/discourse/<source_id>")
def discourse(source_id: str) -> ResponseReturnValue:
    """Receive a Discourse webhook for a configured Discourse source."""
    services: pipeline.Services = current_app.extensions["whoknows"]
    source = services.config.source(source_id)
    secret = services.config.webhook_secrets.get(source_id)
    if source is None or source.kind != "discourse" or not secret:
        raise ApiError(404, f"no Discourse source {source_id!r} receives webhooks")
    _verify(secret)
    event = request.headers.get("X-Discourse-Event", "")
    if event == "ping" or event not in _EVENTS:
        return jsonify(event=event, status="ignored"), 202
    topic = _topic_id(request.get_json(silent=True))
    if topic is None:
        raise ApiError(400, "the payload names no topic_id", errors={"body": ["no topic_id"]})
    connector = build_connector(source, services.config.secrets.get(source_id))
    assert isinstance(connector, DiscourseConnector)
    try:
        page = connector.topic_page(topic)
    except ConnectorError as exc:
        # Discourse retries a webhook that failed: tell it to
        raise ApiError(503, "the forum could not be read back; retry later") from exc
    report = pipeline.ingest_pages(services, source_id, [page], full_pass=False)
    return jsonify(event=event, topic_id=topic, created=report.batch.inserted,
                   updated=report.batch.updated, deleted=len(report.batch.deleted_ids)), 202
