"""Admin: sources and their sync jobs, manual links and unlinks, erasure."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from service import pipeline
from service.api import current_services
from service.api.errors import ApiError
from service.api.experts import Cursor, load_query, next_cursor
from service.api.internal import internal_only
from service.api.oauth import current_caller
from service.api.scopes import ADMIN
from service.identity.audit import Cause
from service.jobs.dispatch import submit_sync
from service.store import jobs as store_jobs
from service.store import people as store_people
from service.store import sync as store_sync

__all__ = ["admin", "admin_only"]

admin = Blueprint("admin", __name__)


#: the `admin` scope, held by a client of the internal audience: admin answers carry
#: internal sources' names, states and error messages
admin_only = internal_only(ADMIN, "admin")


def _time(value: Any) -> str | None:
    return value.isoformat() if value else None


@admin.get("/sources")
@admin_only
def list_sources() -> ResponseReturnValue:
    """Every source with its sync status and error count."""
    with current_services().engine.connect() as conn:
        items = [{"id": s.id, "kind": s.kind, "audience": s.audience, "name": s.name,
                  "contributions": s.contributions, "last_run_at": _time(s.last_run_at),
                  "last_success_at": _time(s.last_success_at), "last_error": s.last_error,
                  "errors": s.errors} for s in store_sync.list_sources(conn)]
    return jsonify(items=items)


@admin.post("/sources/<source_id>/sync")
@admin_only
def sync_source(source_id: str) -> ResponseReturnValue:
    """Queue a sync of the source, from its cursor (`?full=true`: from scratch, flagging
    deletions); 202 with the job (the source's queued job, when one is waiting)."""
    services = current_services()
    source = services.config.source(source_id)
    if source is None:
        raise ApiError(404, f"no configured source {source_id!r}")
    if source.kind == "push":
        raise ApiError(409, f"source {source_id!r} is a push source: it has nothing to pull")
    full = request.args.get("full", "false").lower()
    if full not in ("true", "false"):
        raise ApiError(400, "full: true or false", errors={"full": ["must be true or false"]})
    job, _ = submit_sync(services, current_app.extensions["whoknows_jobs"], source_id,
                         full == "true", current_caller().client_id)
    return jsonify(job_view(job)), 202, {"Location": f"/v1/jobs/{job.id}"}


class JobsQuery(Schema):
    source = fields.List(fields.String(validate=validate.Length(min=1, max=255)),
                         load_default=list)
    state = fields.List(fields.String(validate=validate.OneOf(store_jobs.STATES)),
                        load_default=list)
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = Cursor(load_default=0)


@admin.get("/jobs")
@admin_only
def list_jobs() -> ResponseReturnValue:
    """Sync jobs, newest first: what ran, what runs now, what waits, what failed and why."""
    params = load_query(JobsQuery(), lists=("source", "state"))
    with current_services().engine.connect() as conn:
        found, total = store_jobs.list_jobs(conn, params["source"], params["state"],
                                            params["limit"], params["cursor"])
    following = params["cursor"] + len(found)
    return jsonify(items=[job_view(job) for job in found], total=total,
                   next_cursor=next_cursor(following, total))


@admin.get("/jobs/<job_id>")
@admin_only
def get_job(job_id: str) -> ResponseReturnValue:
    """A sync job: its state, progress while it runs, and its result."""
    with current_services().engine.connect() as conn:
        job = store_jobs.get_job(conn, job_id) if len(job_id) <= 32 else None
    if job is None:
        raise ApiError(404, f"no job {job_id!r}")
    return jsonify(job_view(job))


def job_view(job: store_jobs.Job) -> dict[str, Any]:
    return {"id": job.id, "kind": job.kind, "source": job.source_id, "full": job.full,
            "state": job.state, "requested_by": job.requested_by,
            "created_at": _time(job.created_at), "started_at": _time(job.started_at),
            "finished_at": _time(job.finished_at), "attempts": job.attempts,
            "progress": {"items": job.items, "items_total": job.items_total,
                         "pages": job.pages, "errors": job.errors},
            "result": job.result, "error": job.error}


def _identity(conn: Any, value: Any, field: str) -> int:
    if not isinstance(value, dict) or not all(
            isinstance(value.get(k), str) and value.get(k) for k in ("source", "account")):
        raise ApiError(400, f"{field}: an object {{\"source\": ..., \"account\": ...}}",
                       errors={field: ["must name a source and an account"]})
    identity = store_people.find_identity(conn, value["source"], value["account"])
    if identity is None:
        raise ApiError(404, f"{field}: no such account", errors={field: ["unknown account"]})
    return identity


def _text(value: Any) -> str | None:
    return value[:2000] if isinstance(value, str) else None


@admin.post("/people/<int:person_id>/links")
@admin_only
def link(person_id: int) -> ResponseReturnValue:
    """Manually link an account to this person."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        body = {}
    services = current_services()
    with services.engine.begin() as conn:
        identity = _identity(conn, body.get("identity"), "identity")
        anchor = store_people.person_identities(conn, person_id)
        if not anchor:
            raise ApiError(404, f"no person {person_id}")
        store_people.add_manual_link(conn, anchor[0], identity)
    pipeline.resolve_for(services, Cause(f"client:{current_caller().client_id}", "manual",
                                         _text(body.get("reason")),
                                         frozenset((anchor[0], identity))))
    with services.engine.connect() as conn:
        person = store_people.person_of(conn, identity)
    return jsonify(person_id=person, identity_id=identity, method="manual"), 201


@admin.delete("/people/<int:person_id>/links/<int:identity_id>")
@admin_only
def unlink(person_id: int, identity_id: int) -> ResponseReturnValue:
    """Split an account off this person, for good (never merged back automatically)."""
    services = current_services()
    with services.engine.begin() as conn:
        if store_people.person_of(conn, identity_id) != person_id:
            raise ApiError(404, f"identity {identity_id} is not linked to person {person_id}")
        store_people.block_link(conn, identity_id, person_id)
    pipeline.resolve_for(services, Cause(f"client:{current_caller().client_id}", "manual",
                                         request.args.get("reason"), frozenset((identity_id,))))
    return "", 204


@admin.delete("/people/<int:person_id>")
@admin_only
def erase(person_id: int) -> ResponseReturnValue:
    """Erase the person: identities, contributions, index entries; their accounts and
    e-mails are suppressed so no later sync brings them back."""
    if not pipeline.erase_person(current_services(), person_id):
        raise ApiError(404, f"no person {person_id}")
    return "", 204
