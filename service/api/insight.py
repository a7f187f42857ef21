"""Community insight: trending topics, a topic's activity, the connection map, a
person's connections and hot groups, for the caller's audience.

Internal callers read the `all` scope; everyone else the `public` one, which holds no
internal contribution, no interaction from an internal source and no opted-out person.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from service.api import current_services
from service.api.errors import ApiError
from service.api.experts import Cursor, load_query, next_cursor
from service.api.oauth import require_oauth
from service.api.people import view_scope, visible_summary
from service.api.scopes import EXPERTS_READ, PROFILES_READ
from service.insight import queries as insight_queries
from service.insight.groups import choose_group

__all__ = ["insight"]

insight = Blueprint("insight", __name__)


class TrendingSchema(Schema):
    weeks = fields.Integer(load_default=8, validate=validate.Range(min=1, max=104))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ActivitySchema(Schema):
    weeks = fields.Integer(load_default=52, validate=validate.Range(min=1, max=260))


class GraphSchema(Schema):
    topic = fields.String(load_default="", validate=validate.Length(max=200))
    since = fields.Date(load_default=None)
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))
    cursor = Cursor(load_default=0)


class ConnectionsSchema(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class GroupSchema(Schema):
    size = fields.Integer(load_default=8, validate=validate.Range(min=2, max=30))


def _topic(value: str) -> str:
    """The topic a path or query names, normalised as contributions' topics are."""
    return current_services().vocabulary.normalise(value) or ""


@insight.get("/topics/trending")
@require_oauth(EXPERTS_READ)
def trending() -> ResponseReturnValue:
    """Topics in a burst now or lately, strongest first."""
    params = load_query(TrendingSchema())
    services = current_services()
    with services.engine.connect() as conn:
        items = insight_queries.trending(conn, view_scope(), services.clock().date(),
                                         params["weeks"], params["limit"])
    return jsonify(items=items)


@insight.get("/topics/<topic>/activity")
@require_oauth(EXPERTS_READ)
def activity(topic: str) -> ResponseReturnValue:
    """A topic's weekly contributions and participants, by audience, with its bursts."""
    params = load_query(ActivitySchema())
    services = current_services()
    with services.engine.connect() as conn:
        found = insight_queries.activity(conn, view_scope(), _topic(topic),
                                         services.clock().date(), params["weeks"])
    if found is None:
        raise ApiError(404, "no activity on this topic is visible to this client")
    return jsonify(found)


@insight.get("/topics/<topic>/group")
@require_oauth(EXPERTS_READ)
def group(topic: str) -> ResponseReturnValue:
    """A group to convene on the topic, across communities, with a reason for each."""
    params = load_query(GroupSchema())
    services = current_services()
    name = _topic(topic)
    with services.engine.connect() as conn:
        candidates = insight_queries.group_candidates(conn, view_scope(), name,
                                                      params["size"] * 3)
    if not candidates:
        raise ApiError(404, "nobody on this topic is visible to this client")
    members = choose_group(candidates, name, params["size"], services.clock())
    return jsonify(topic=name, members=members)


@insight.get("/graph")
@require_oauth(EXPERTS_READ)
def graph() -> ResponseReturnValue:
    """The connection map: a page of weighted edges, the people on them, and bridges."""
    params = load_query(GraphSchema())
    since = params["since"]
    offset = params["cursor"]
    with current_services().engine.connect() as conn:
        page = insight_queries.graph_page(
            conn, view_scope(), _topic(params["topic"]),
            datetime.combine(since, time(), UTC) if since else None, params["limit"], offset)
    following = offset + len(page["edges"])
    page["next_cursor"] = next_cursor(following, page["total"])
    return jsonify(page)


@insight.get("/people/<int:person_id>/connections")
@require_oauth(PROFILES_READ)
def connections(person_id: int) -> ResponseReturnValue:
    """Who the person works with most, inside and outside their communities."""
    params = load_query(ConnectionsSchema())
    with current_services().engine.connect() as conn:
        visible_summary(conn, person_id)  # a person this client may not see is a 404
        items = insight_queries.connections(conn, view_scope(), person_id, params["limit"])
    return jsonify(person_id=person_id, items=items)
