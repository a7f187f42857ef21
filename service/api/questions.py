"""Open questions on the external sources, with the people who could answer them.
Internal clients only: the suggestions rank employees on internal work."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from service import pipeline
from service.api import MAX_ID
from service.api.experts import Cursor, load_query, next_cursor
from service.api.internal import internal_only
from service.api.scopes import EXPERTS_READ
from service.routing.questions import route

__all__ = ["questions"]

questions = Blueprint("questions", __name__)


class OpenSchema(Schema):
    source = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                         load_default=list)
    topic = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    organisation = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    suggested_for = fields.Integer(load_default=None,
                                   validate=validate.Range(min=0, max=MAX_ID))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = Cursor(load_default=0)


@questions.get("/questions/open")
@internal_only(EXPERTS_READ, "open questions")
def open_questions() -> ResponseReturnValue:
    """Open questions, oldest first, each with its suggested answerers."""
    params = load_query(OpenSchema())
    services: pipeline.Services = current_app.extensions["whoknows"]
    topic = services.vocabulary.normalise(params["topic"]) if params["topic"] else None
    with services.engine.connect() as conn:
        found = route(conn, services.index, services.config.routing,
                      services.config.organisations.company_id, services.clock(),
                      services.vocabulary)
    if params["source"]:
        found = [q for q in found if q.source_id in params["source"]]
    if params["topic"]:
        found = [q for q in found if (topic or params["topic"]) in q.topics]
    if params["organisation"]:
        found = [q for q in found if q.organisation and q.organisation[0]
                 == params["organisation"]]
    if params["suggested_for"] is not None:
        found = [q for q in found
                 if any(s.person_id == params["suggested_for"] for s in q.suggested)]
    offset, limit = params["cursor"], params["limit"]
    page = found[offset:offset + limit]
    return jsonify(items=[q.as_json() for q in page], total=len(found),
                   next_cursor=next_cursor(offset + len(page), len(found)))
