"""People: a profile by id or by e-mail, and a person's contributions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from service.api.errors import ApiError
from service.api.experts import Cursor, load_query, next_cursor
from service.api.oauth import current_caller, require_oauth
from service.api.scopes import PROFILES_READ
from service.insight import queries as insight_queries
from service.model import VISIBLE_AUDIENCES, Audience
from service.store import queries

__all__ = ["people", "view_scope", "visible_summary"]

people = Blueprint("people", __name__)


class LookupSchema(Schema):
    email = fields.Email(required=True)


class PageSchema(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = Cursor(load_default=0)


def view_scope() -> str:
    """The reputation and insight scope the caller reads: `all` for internal callers,
    `public` for everyone else."""
    return "all" if current_caller().audience == Audience.INTERNAL else "public"


def visible_summary(conn: Any, person_id: int) -> dict[str, Any]:
    """The person's summary as the caller may see it; raises a 404 ApiError that says no
    more than 'not found'."""
    caller = current_caller()
    audiences = [str(a) for a in VISIBLE_AUDIENCES[caller.audience]]
    found = queries.person_summary(conn, person_id, audiences,
                                   hide_opted_out=caller.audience != Audience.INTERNAL)
    if found is None:
        raise ApiError(404, f"no person {person_id} is visible to this client")
    return found


def _visible_person(person_id: int) -> dict[str, Any]:
    """The person's profile as the caller may see it (404 when not visible)."""
    caller = current_caller()
    with current_app.extensions["whoknows"].engine.connect() as conn:
        found = queries.audience_profile(conn, person_id, caller.audience)
        if found is None:
            raise ApiError(404, f"no person {person_id} is visible to this client")
        # the last 30/90 days, beside long-term expertise
        found["recent_topics"] = insight_queries.recent_topics(conn, view_scope(), person_id)
    return found


@people.get("/people/<int:person_id>")
@require_oauth(PROFILES_READ)
def get_person(person_id: int) -> ResponseReturnValue:
    """A person's expertise profile."""
    return jsonify(_visible_person(person_id))


@people.get("/people")
@require_oauth(PROFILES_READ)
def find_person() -> ResponseReturnValue:
    """Look a person up by e-mail (the CRM knows its contacts by e-mail)."""
    email = load_query(LookupSchema())["email"]
    with current_app.extensions["whoknows"].engine.connect() as conn:
        person_id = queries.person_by_email(conn, email)
    if person_id is None:
        raise ApiError(404, "nobody with this e-mail is visible to this client")
    try:
        return jsonify(_visible_person(person_id))
    except ApiError as exc:
        raise ApiError(404, "nobody with this e-mail is visible to this client") from exc


@people.get("/people/<int:person_id>/contributions")
@require_oauth(PROFILES_READ)
def person_contributions(person_id: int) -> ResponseReturnValue:
    """The person's contributions the caller may see, newest first, paged."""
    params = load_query(PageSchema())
    offset = params["cursor"]
    audiences = [str(a) for a in VISIBLE_AUDIENCES[current_caller().audience]]
    with current_app.extensions["whoknows"].engine.connect() as conn:
        visible_summary(conn, person_id)  # a person this client may not see is a 404
        items, total = queries.person_contributions(conn, person_id, audiences,
                                                    params["limit"], offset)
    following = offset + len(items)
    return jsonify(items=items, total=total,
                   next_cursor=next_cursor(following, total))


