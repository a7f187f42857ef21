"""Organisations: listed and searched, registered by a CRM (PUT, by our id, with the CRM's
own account id), and who knows who at each (connections, topics). Internal clients only:
who belongs to which customer, and who talks to them, is the company's own knowledge."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate, validates

from service.api import current_services
from service.api.errors import ApiError
from service.api.experts import Cursor, load_query, next_cursor
from service.api.internal import internal_only, load_body
from service.api.scopes import ADMIN, PROFILES_READ
from service.organisations import connections as org_connections
from service.organisations import store as org_store

__all__ = ["organisations"]

organisations = Blueprint("organisations", __name__)
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_read = internal_only(PROFILES_READ, "organisations")


class ListSchema(Schema):
    q = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    crm_account_id = fields.String(load_default=None, validate=validate.Length(min=1, max=255))
    domain = fields.String(load_default=None, validate=validate.Length(min=1, max=253))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = Cursor(load_default=0)


class LimitSchema(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class PutSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    domains = fields.List(fields.String(), load_default=list,
                          validate=validate.Length(max=100))
    crm_account_id = fields.String(load_default=None, allow_none=True,
                                   validate=validate.Length(min=1, max=255))

    @validates("domains")
    def _domains(self, value: list[str], **_: Any) -> None:
        bad = [d for d in value if not _DOMAIN.match(d.strip().lower())]
        if bad:
            raise ValidationError(f"not a domain name: {bad[0]!r} (e.g. acme.com)")

    @validates("name")
    def _name(self, value: str, **_: Any) -> None:
        if not value.strip():
            raise ValidationError("must not be blank")


def _org_id(value: str) -> str:
    if not _ID.match(value):
        raise ApiError(400, "organisation id: lower-case letters, digits, - or _ (at most 64)",
                       errors={"id": ["lower-case letters, digits, - or _ (at most 64)"]})
    return value


def _found(conn: Any, org_id: str) -> org_store.Organisation:
    found = org_store.get(conn, org_id)
    if found is None:
        raise ApiError(404, f"no organisation {org_id!r}")
    return found


@organisations.get("/organisations")
@_read
def list_organisations() -> ResponseReturnValue:
    """Organisations by name; `q` searches names, ids and domains."""
    params = load_query(ListSchema())
    with current_services().engine.connect() as conn:
        items, total = org_store.list_organisations(
            conn, params["q"], params["crm_account_id"], params["domain"], params["limit"],
            params["cursor"])
    following = params["cursor"] + len(items)
    return jsonify(items=[o.as_json() for o in items], total=total,
                   next_cursor=next_cursor(following, total))


@organisations.get("/organisations/<org_id>")
@_read
def get_organisation(org_id: str) -> ResponseReturnValue:
    with current_services().engine.connect() as conn:
        return jsonify(_found(conn, _org_id(org_id)).as_json())


@organisations.put("/organisations/<org_id>")
@internal_only(ADMIN, "registering organisations")
def put_organisation(org_id: str) -> ResponseReturnValue:
    """Create or replace a registered organisation: name, domains, CRM account id."""
    _org_id(org_id)
    body = load_body(PutSchema())
    services = current_services()
    try:
        with services.engine.begin() as conn:
            found, created = org_store.put(conn, org_id, body["name"].strip(), body["domains"],
                                           body["crm_account_id"],
                                           services.config.organisations)
    except org_store.Conflict as exc:
        raise ApiError(409, str(exc), errors={exc.field: [str(exc)]}) from exc
    return jsonify(found.as_json()), 201 if created else 200


@organisations.get("/organisations/<org_id>/connections")
@_read
def organisation_connections(org_id: str) -> ResponseReturnValue:
    """The employees connected to the organisation's people, strongest first."""
    params = load_query(LimitSchema())
    services = current_services()
    with services.engine.connect() as conn:
        _found(conn, _org_id(org_id))
        items, total = org_connections.connections(
            conn, org_id, services.config.organisations.company_id, services.settings,
            services.clock(), params["limit"])
    return jsonify(organisation=org_id, items=items, total=total)


@organisations.get("/organisations/<org_id>/topics")
@_read
def organisation_topics(org_id: str) -> ResponseReturnValue:
    """What the organisation's people write about, with the trend."""
    params = load_query(LimitSchema())
    services = current_services()
    with services.engine.connect() as conn:
        _found(conn, _org_id(org_id))
        items = org_connections.organisation_topics(conn, org_id, services.settings,
                                                    services.clock(), params["limit"])
    return jsonify(organisation=org_id, items=items)
