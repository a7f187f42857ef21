"""The intranet page's organisations (who they are, who knows them, what they ask about)
and the open questions ("questions you could answer" for a signed-in employee)."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue
from marshmallow import EXCLUDE, Schema, fields, validate

from service.organisations import connections as org_connections
from service.organisations import store as org_store
from service.routing.questions import route
from service.web.auth import signed_in_person
from service.web.views import PageError, _form, _services, web

__all__: list[str] = []

#: organisations listed on one page, connections and topics shown for one
LISTED = 100
SHOWN = 20


class OrganisationsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    q = fields.String(load_default="", validate=validate.Length(max=200))


@web.get("/organisations")
def organisations() -> ResponseReturnValue:
    """The organisations, searchable by name, id or domain."""
    form = _form(OrganisationsSchema())
    with _services().engine.connect() as conn:
        items, total = org_store.list_organisations(conn, form["q"] or None, None, None,
                                                    LISTED, 0)
    return render_template("web/organisations.html", form=form, items=items, total=total)


@web.get("/organisations/<org_id>")
def organisation(org_id: str) -> ResponseReturnValue:
    """One organisation: its domains, the employees who know its people, its topics."""
    services = _services()
    company = services.config.organisations.company_id
    with services.engine.connect() as conn:
        found = org_store.get(conn, org_id)
        if found is None:
            raise PageError(404, "There is no such organisation.")
        connected, total = org_connections.connections(conn, org_id, company,
                                                       services.settings, services.clock(),
                                                       SHOWN)
        topics = org_connections.organisation_topics(conn, org_id, services.settings,
                                                     services.clock(), SHOWN)
    return render_template("web/organisation.html", org=found, connections=connected,
                           total=total, topics=topics, is_company=org_id == company)


@web.get("/questions")
def open_questions() -> ResponseReturnValue:
    """Open questions with their suggested answerers; a signed-in employee sees the ones
    they are suggested for."""
    services = _services()
    with services.engine.connect() as conn:
        found = route(conn, services.index, services.config.routing,
                      services.config.organisations.company_id, services.clock(),
                      services.vocabulary)
    person = signed_in_person()
    if person is not None:
        found = [q for q in found if any(s.person_id == person.id for s in q.suggested)]
    return render_template("web/questions.html", questions=found, person=person,
                           open_after=services.config.routing.open_after_hours)
