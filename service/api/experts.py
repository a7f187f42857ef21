"""GET /v1/experts: who knows what, for the caller's audience."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from datetime import UTC, datetime, time
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate

from service.api.errors import ApiError
from service.api.oauth import current_caller, require_oauth
from service.api.scopes import EXPERTS_READ
from service.search.base import ExpertQuery, QueryError
from service.search.cluster.client import ClusterError

__all__ = ["experts"]

experts = Blueprint("experts", __name__)
MAX_OFFSET = 1000


class Cursor(fields.Field):  # type: ignore[type-arg]
    """A `cursor` query parameter, loaded as the offset it stands for (a 400 naming
    `cursor` when it is not one this API returned)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str):
            raise ValidationError("not a cursor this API returned")
        return decode_cursor(value)


def encode_cursor(offset: int) -> str:
    """An opaque cursor: the position only, nothing from the data."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def next_cursor(following: int, total: int) -> str | None:
    """The cursor of the page starting at `following`, or None when there is none (the
    end, or past MAX_OFFSET, where a cursor would not load again)."""
    return encode_cursor(following) if following < total and following <= MAX_OFFSET else None


def decode_cursor(value: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(value.encode()))["offset"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError("not a cursor this API returned") from exc
    if not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise ValidationError("not a cursor this API returned")
    return offset


class ExpertsQuerySchema(Schema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=200))
    source = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                         load_default=list)
    since = fields.Date(load_default=None)
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))
    cursor = Cursor(load_default=0)
    explain = fields.Boolean(load_default=False)


def load_query(schema: Schema, lists: tuple[str, ...] = ("source",)) -> dict[str, Any]:
    """Validate the query string (`lists`: the parameters that may repeat); a bad field
    is a 400 naming it."""
    args = {key: request.args.getlist(key) if key in lists else request.args[key]
            for key in request.args}
    try:
        return schema.load(args)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ApiError(400, "invalid query parameters: " + "; ".join(
            f"{name}: {' '.join(map(str, messages))}"
            for name, messages in _flatten(exc.messages).items()),
            errors=_flatten(exc.messages)) from exc


def _flatten(messages: Any) -> dict[str, list[str]]:
    if isinstance(messages, dict):
        return {str(k): v if isinstance(v, list) else _messages(v)
                for k, v in messages.items()}
    return {"query": [str(messages)]}


def _messages(value: Any) -> list[str]:
    """The messages of one field, also of a repeated one ({index: [messages]})."""
    if isinstance(value, dict):
        return [str(m) for messages in value.values()
                for m in (messages if isinstance(messages, list) else [messages])]
    return [str(value)]


@experts.get("/experts")
@require_oauth(EXPERTS_READ)
def find_experts() -> ResponseReturnValue:
    """Rank people for `q`, with matched topics and evidence."""
    params = load_query(ExpertsQuerySchema())
    offset = params["cursor"]
    since = params["since"]
    query = ExpertQuery(
        text=params["q"], audience=current_caller().audience, sources=tuple(params["source"]),
        since=datetime.combine(since, time(), tzinfo=UTC) if since else None,
        limit=params["limit"], offset=offset)
    try:
        result = current_app.extensions["whoknows"].index.search(query)
    except QueryError as exc:
        raise ApiError(400, str(exc), errors={"q": [str(exc).partition(": ")[2]]}) from exc
    except ClusterError as exc:
        raise ApiError(503, "the search index is not reachable; retry later",
                       headers={"Retry-After": "30"}) from exc
    hits = [_hit(asdict(hit), params["explain"]) for hit in result.hits]
    following = offset + len(hits)
    return jsonify(
        query_topics=result.query_topics, did_you_mean=result.did_you_mean,
        total=result.total, hits=hits, next_cursor=next_cursor(following, result.total))


def _hit(hit: dict[str, Any], explain: bool) -> dict[str, Any]:
    for evidence in hit["evidence"]:
        created = evidence["created"]
        evidence["created"] = created.isoformat() if created else None
    breakdown = {"relevance": hit.pop("relevance"), "topic_score": hit.pop("topic_score"),
                 # score = the sum of the signals' points (service.search.ranking)
                 "signals": [{**signal, "points": round(signal["points"], 4),
                              "value": round(signal["value"], 4)}
                             for signal in hit.pop("signals")],
                 "documents": [{"contribution_id": e["contribution_id"],
                                "relevance": e["relevance"]} for e in hit["evidence"]]}
    if explain:
        hit["explain"] = breakdown
    return hit
