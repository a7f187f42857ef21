"""Admin: the review queue of merge suggestions and the identity audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate

from service import review
from service.api import current_services
from service.api.admin import admin_only
from service.api.errors import ApiError
from service.api.experts import load_query
from service.api.oauth import current_caller
from service.store import audit as store_audit
from service.store import suggestions as store_suggestions

__all__ = ["identity"]

identity = Blueprint("identity", __name__)


class SuggestionsQuery(Schema):
    status = fields.String(load_default=store_suggestions.OPEN,
                           validate=validate.OneOf(store_suggestions.STATUSES))
    min_confidence = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=1))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    after = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))


class AuditQuery(Schema):
    person = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "jsonl", "csv"]))


class DecisionBody(Schema):
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=2000))


def _reason() -> str | None:
    body = request.get_json(silent=True) if request.content_length else {}
    if body is None or not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", errors={"body": ["not an object"]})
    try:
        return DecisionBody().load(body)["reason"]  # type: ignore[no-any-return, index]
    except ValidationError as exc:
        errors = {str(k): [str(m) for m in v] for k, v in exc.messages.items()}  # type: ignore[union-attr]
        raise ApiError(400, "invalid body: " + "; ".join(errors), errors=errors) from exc


def _actor() -> str:
    return f"client:{current_caller().client_id}"


def _time(value: Any) -> str | None:
    return value.isoformat() if value else None


def _side(side: store_suggestions.Side) -> dict[str, Any]:
    return {"person_id": side.person_id, "display_name": side.display_name,
            "department": side.department, "accounts": side.accounts}


def _suggestion(found: store_suggestions.Suggestion) -> dict[str, Any]:
    return {"id": found.id, "confidence": found.confidence, "reasons": found.reasons,
            "status": found.status, "created_at": _time(found.created_at),
            "decided_by": found.decided_by, "decided_at": _time(found.decided_at),
            "note": found.note, "people": [_side(found.first), _side(found.second)]}


@identity.get("/identity/suggestions")
@admin_only
def list_suggestions() -> ResponseReturnValue:
    """The review queue: suggested merges, most confident first, each with its reasons."""
    params = load_query(SuggestionsQuery())
    with current_services().engine.connect() as conn:
        found = store_suggestions.list_suggestions(
            conn, params["status"], params["min_confidence"], params["limit"] + 1,
            params["after"])
    page = found[:params["limit"]]
    following = page[-1].id if len(found) > params["limit"] else None
    return jsonify(items=[_suggestion(s) for s in page], next_after=following)


def _run(action: Callable[..., review.Outcome], key: int) -> review.Outcome:
    """Run a review action for the caller; its errors are a 404 or a 409."""
    reason = _reason()
    try:
        return action(current_services(), key, _actor(), reason)
    except review.NotFound as exc:
        raise ApiError(404, str(exc)) from exc
    except review.Conflict as exc:
        raise ApiError(409, str(exc)) from exc


def _decide(action: Callable[..., review.Outcome], suggestion_id: int) -> ResponseReturnValue:
    outcome = _run(action, suggestion_id)
    with current_services().engine.connect() as conn:
        found = store_suggestions.get(conn, suggestion_id)
    assert found is not None
    return jsonify(suggestion=_suggestion(found), person_id=outcome.person_id,
                   audit_ids=outcome.audit_ids)


@identity.post("/identity/suggestions/<int:suggestion_id>/accept")
@admin_only
def accept(suggestion_id: int) -> ResponseReturnValue:
    """Merge the suggested pair into one person."""
    return _decide(review.accept, suggestion_id)


@identity.post("/identity/suggestions/<int:suggestion_id>/reject")
@admin_only
def reject(suggestion_id: int) -> ResponseReturnValue:
    """Keep the pair apart for good: never suggested or merged again."""
    return _decide(review.reject, suggestion_id)


@identity.get("/identity/audit")
@admin_only
def audit() -> ResponseReturnValue:
    """The identity audit log (whole, or one person's), oldest first; JSON, JSON lines or
    CSV for export."""
    params = load_query(AuditQuery())
    with current_services().engine.connect() as conn:
        found = store_audit.entries(conn, params["person"], params["after"],
                                    params["limit"] + 1)
    page = found[:params["limit"]]
    following = page[-1].id if len(found) > params["limit"] else None
    if params["format"] == "jsonl":
        return Response("".join(store_audit.export_jsonl(page)), mimetype="application/jsonl")
    if params["format"] == "csv":
        return Response("".join(store_audit.export_csv(page)), mimetype="text/csv")
    return jsonify(items=[e.as_dict() for e in page], next_after=following)


@identity.post("/identity/audit/<int:entry_id>/undo")
@admin_only
def undo(entry_id: int) -> ResponseReturnValue:
    """Undo a merge (the accounts apart again, for good) or a split; a new entry."""
    outcome = _run(review.undo, entry_id)
    return jsonify(person_id=outcome.person_id, audit_ids=outcome.audit_ids)
