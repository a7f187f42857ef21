"""GET /v1/topics: the topics people know about, with counts and trend."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from service.api.experts import load_query
from service.api.oauth import current_caller, require_oauth
from service.api.scopes import EXPERTS_READ
from service.model import Audience
from service.store import queries

__all__ = ["topics"]

topics = Blueprint("topics", __name__)


class TopicsSchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


@topics.get("/topics")
@require_oauth(EXPERTS_READ)
def list_topics() -> ResponseReturnValue:
    """Topics ranked by how many people know them, for the caller's audience."""
    params = load_query(TopicsSchema())
    services = current_app.extensions["whoknows"]
    scope = "all" if current_caller().audience == Audience.INTERNAL else "public"
    with services.engine.connect() as conn:
        items = queries.topic_counts(conn, scope, services.clock(), params["limit"])
    return jsonify(items=items)
