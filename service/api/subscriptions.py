"""Outbound webhook subscriptions (`/v1/webhooks`, admin scope): subscribe a URL to
events, list and remove subscriptions, and see each one's deliveries with their status.

Not to be confused with `service/api/webhooks.py`, the inbound Discourse webhook at
`/v1/webhooks/discourse/<source>`: these routes take an integer id, so the two never
meet."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate, validates

from service.api import current_services
from service.api.errors import ApiError
from service.api.experts import Cursor, load_query, next_cursor
from service.api.internal import internal_only, load_body
from service.api.scopes import ADMIN
from service.routing import webhooks as outbound

__all__ = ["subscriptions"]

subscriptions = Blueprint("subscriptions", __name__)
_admin = internal_only(ADMIN, "webhooks")


class SubscribeSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    events = fields.List(fields.String(validate=validate.OneOf(outbound.EVENTS)),
                         required=True, validate=validate.Length(min=1, max=10))
    description = fields.String(load_default=None, validate=validate.Length(max=255))

    @validates("url")
    def _url(self, value: str, **_: Any) -> None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError("an http:// or https:// URL")


class DeliveriesSchema(Schema):
    status = fields.String(load_default=None,
                           validate=validate.OneOf(("pending", "delivered", "failed")))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = Cursor(load_default=0)


@subscriptions.post("/webhooks")
@_admin
def subscribe() -> ResponseReturnValue:
    """Subscribe a URL; the answer carries the signing secret, the only time it is shown."""
    body = load_body(SubscribeSchema())
    services = current_services()
    if not services.config.webhooks.allow_private_networks and (
            address := outbound.private_address(body["url"])):
        raise ApiError(400, "the webhook URL is not on a public network", errors={"url": [
            f"its host resolves to {address}, a loopback, private, link-local or reserved "
            "address; set [webhooks] allow_private_networks = true to deliver inside your "
            "network"]})
    with services.engine.begin() as conn:
        created = outbound.create_subscription(conn, body["url"], body["events"],
                                               body["description"], services.clock())
    current_app.extensions["whoknows_jobs"].start()  # the embedded thread delivers
    return jsonify(created), 201


@subscriptions.get("/webhooks")
@_admin
def list_webhooks() -> ResponseReturnValue:
    with current_services().engine.connect() as conn:
        return jsonify(items=outbound.list_subscriptions(conn))


def _found(conn: Any, webhook_id: int) -> dict[str, Any]:
    found = outbound.get_subscription(conn, webhook_id)
    if found is None:
        raise ApiError(404, f"no webhook subscription {webhook_id}")
    return found


@subscriptions.get("/webhooks/<int:webhook_id>")
@_admin
def get_webhook(webhook_id: int) -> ResponseReturnValue:
    with current_services().engine.connect() as conn:
        return jsonify(_found(conn, webhook_id))


@subscriptions.delete("/webhooks/<int:webhook_id>")
@_admin
def delete_webhook(webhook_id: int) -> ResponseReturnValue:
    services = current_services()
    with services.engine.begin() as conn:
        if not outbound.delete_subscription(conn, webhook_id, services.clock()):
            raise ApiError(404, f"no webhook subscription {webhook_id}")
    return "", 204


@subscriptions.get("/webhooks/<int:webhook_id>/deliveries")
@_admin
def webhook_deliveries(webhook_id: int) -> ResponseReturnValue:
    """The subscription's deliveries, newest first, with their status."""
    params = load_query(DeliveriesSchema())
    with current_services().engine.connect() as conn:
        _found(conn, webhook_id)
        items, total = outbound.deliveries(conn, webhook_id, params["status"],
                                           params["limit"], params["cursor"])
    following = params["cursor"] + len(items)
    return jsonify(items=items, total=total, next_cursor=next_cursor(following, total))
