"""POST /v1/contributions: push ingestion for partner portals and webhooks."""

from __future__ import annotations

from typing import Any

import msgspec
from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from service import pipeline
from service.api.errors import ApiError
from service.api.oauth import current_caller, require_oauth
from service.api.scopes import CONTRIBUTIONS_WRITE
from service.config import ConfigError
from service.connectors.base import Page
from service.model import Audience, ContributionRecord
from service.store.contributions import BatchResult

__all__ = ["MAX_BATCH", "contributions", "push_records"]

contributions = Blueprint("contributions", __name__)
MAX_BATCH = 1000


def _body() -> tuple[str, list[Any]]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object {\"source\": ..., \"records\": [...]}",
                       errors={"body": ["must be a JSON object"]})
    source, records = body.get("source"), body.get("records")
    problems: dict[str, list[str]] = {}
    if not isinstance(source, str) or not source:
        problems["source"] = ["required: the id of a configured source"]
    if not isinstance(records, list) or not records:
        problems["records"] = ["required: a non-empty list of contribution records"]
    if problems:
        raise ApiError(400, "invalid body: " + "; ".join(
            f"{k}: {v[0]}" for k, v in problems.items()), errors=problems)
    assert isinstance(source, str) and isinstance(records, list)
    if len(records) > MAX_BATCH:
        raise ApiError(413, f"records: at most {MAX_BATCH} records per request, got "
                       f"{len(records)}; split the batch", errors={"records": ["too many"]})
    return source, records


def push_records(services: pipeline.Services, source_id: str, records: list[Any]
                 ) -> dict[str, Any]:
    """Validate each record, store the valid ones through the pipeline, and return one
    result per item (an invalid record never sinks the batch)."""
    results: list[dict[str, Any]] = []
    valid: list[ContributionRecord] = []
    for index, item in enumerate(records):
        try:
            valid.append(msgspec.convert(item, ContributionRecord, strict=False))
            results.append({"index": index, "id": valid[-1].id, "status": None})
        except msgspec.ValidationError as exc:
            identifier = item.get("id") if isinstance(item, dict) else None
            results.append({"index": index, "id": identifier if isinstance(identifier, str)
                            else None, "status": "invalid", "error": str(exc)})
    outcome: dict[str, str] = {}

    def collect(batch: BatchResult) -> None:
        outcome.update(batch.outcome)

    if valid:
        pipeline.ingest_pages(services, source_id, [Page(valid, cursor=None)],
                              full_pass=False, on_page=collect)
    for result in results:
        if result["status"] is None:
            result["status"] = outcome.get(result["id"], "unchanged")
    counts: dict[str, int] = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return {"source": source_id, "summary": counts, "results": results}


@contributions.post("/contributions")
@require_oauth(CONTRIBUTIONS_WRITE)
def push() -> ResponseReturnValue:
    """Store up to 1,000 canonical records in a source; idempotent on (source, id)."""
    source_id, records = _body()
    services = current_app.extensions["whoknows"]
    with services.engine.connect() as conn:
        try:
            source = pipeline.source_info(conn, services.config, source_id)
        except ConfigError as exc:
            raise ApiError(404, f"source: no source {source_id!r}",
                           errors={"source": ["unknown source"]}) from exc
    caller = current_caller()
    if caller.audience != Audience.INTERNAL and source.audience != caller.audience:
        raise ApiError(403, f"a {caller.audience} client may push only into "
                       f"{caller.audience} sources")
    return jsonify(push_records(services, source_id, records))
