"""The demo company's customers: organisations from the forum's e-mail domains, registered
as its CRM would, the employees who really answered each one's people, and the pages that
show them (no browser: HTML as served)."""

from __future__ import annotations

from typing import Any

import pytest

from service.api import create_app
from service.api.scopes import PROFILES_READ
from service.demo.company import FORUM, ORGANISATIONS
from service.demo.generator import DemoData
from service.store import clients as store_clients


@pytest.fixture(scope="module")
def client(demo_services: Any) -> Any:
    return create_app({"SERVICES": demo_services[0]}).test_client()


@pytest.fixture(scope="module")
def token(demo_services: Any, client: Any) -> str:
    with demo_services[0].engine.begin() as conn:
        client_id, secret = store_clients.create_client(conn, "crm", [PROFILES_READ],
                                                        "internal")
    answer = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                         auth=(client_id, secret))
    return str(answer.get_json()["access_token"])


def _answerers(data: DemoData, domain: str) -> tuple[set[str], set[str]]:
    """From the generated records themselves: the names of the employees who wrote in
    threads the domain's people wrote in, and of those who answered their questions."""
    people = {p.usernames.get(FORUM): p for p in data.people if p.usernames.get(FORUM)}
    records = data.records[FORUM]
    theirs = [r for r in records if people[r.author.id].email.endswith("@" + domain)]
    threads = {r.thread or r.id for r in theirs}
    asked = {r.id for r in theirs if r.kind == "question"}
    employees = [r for r in records if people[r.author.id].role == "employee"]
    return ({people[r.author.id].name for r in employees if (r.thread or r.id) in threads},
            {people[r.author.id].name for r in employees
             if r.kind == "answer" and r.thread in asked})


def test_the_customers_are_organisations_with_their_forum_people(
        client: Any, token: str, demo_services: Any) -> None:
    data: DemoData = demo_services[1]
    seen = {r.author.id for r in data.records[FORUM]}  # who wrote (e-mails come with posts)
    on_forum = [p for p in data.people if p.role == "customer" and p.usernames[FORUM] in seen]
    headers = {"Authorization": f"Bearer {token}"}
    listed = client.get("/v1/organisations?limit=100", headers=headers).get_json()
    by_id = {o["id"]: o for o in listed["items"]}
    for org_id, name, domain, account in ORGANISATIONS:
        assert (by_id[org_id]["name"], by_id[org_id]["domains"],
                by_id[org_id]["crm_account_id"]) == (name, [domain], account)
    customers = [o for o in ORGANISATIONS if o[3].startswith("001")]
    assert sum(by_id[o[0]]["members"] for o in customers) == len(on_forum) >= 25
    assert by_id["company"]["name"] == "Lumen Mutual" and by_id["company"]["members"] == 35


def test_connections_are_the_employees_who_really_answered_them(
        client: Any, token: str, demo_services: Any) -> None:
    data: DemoData = demo_services[1]
    headers = {"Authorization": f"Bearer {token}"}
    for org_id, _, domain, _ in ORGANISATIONS[:4]:
        body = client.get(f"/v1/organisations/{org_id}/connections?limit=100",
                          headers=headers).get_json()
        shared, answered = _answerers(data, domain)
        assert answered, org_id
        assert {c["display_name"] for c in body["items"]
                if c["evidence"]["shared_threads"]} == shared, org_id
        assert answered <= {c["display_name"] for c in body["items"]
                            if c["evidence"]["replies"]}, org_id
        strengths = [c["strength"] for c in body["items"]]
        assert strengths == sorted(strengths, reverse=True)


def test_the_pages_show_organisations_who_knows_them_and_open_questions(client: Any) -> None:
    listing = client.get("/organisations?q=harbour").get_data(as_text=True)
    assert "Harbour Clinic" in listing and "Bright Dental" not in listing
    page = client.get("/organisations/harbour-clinic")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Who knows them" in text and "Samuel Mensah" in text  # the claims expert
    assert "What they ask about" in text and "medical insurance claims" in text
    assert client.get("/organisations/no-such-org").status_code == 404
    questions = client.get("/questions").get_data(as_text=True)
    assert "Open questions" in questions and "Could answer" in questions


def test_a_signed_in_employee_sees_the_questions_they_could_answer(demo_services: Any) -> None:
    import dataclasses

    import msgspec
    from markupsafe import escape

    from service.config import WebConfig
    from service.routing.questions import route

    services = demo_services[0]
    with services.engine.connect() as conn:
        everything = route(conn, services.index, services.config.routing, "company",
                           services.clock(), services.vocabulary)
    suggested = {s.person_id: s.display_name for q in everything for s in q.suggested}
    load = {p: sum(p in {s.person_id for s in q.suggested} for q in everything)
            for p in suggested}
    person = min(suggested, key=lambda p: (load[p], p))  # one with questions not theirs
    name = suggested[person]
    theirs = [q.title for q in everything if person in {s.person_id for s in q.suggested}]
    others = [q.title for q in everything if q.title not in theirs]
    emails = {p.name: p.email for p in demo_services[1].people}
    # sign-in configured (the provider is never asked: the session is set directly)
    config = msgspec.structs.replace(
        services.config, web_secrets={"session_secret": "s" * 32},
        web=WebConfig(oidc_metadata_url="https://login.invalid/.well-known/openid-configuration",
                      client_id="web", session_secret_env="WEB_SESSION_SECRET"))
    client = create_app({"SERVICES": dataclasses.replace(services, config=config)}).test_client()
    with client.session_transaction() as session:
        session["user"] = {"sub": "1", "name": name, "email": emails[name]}
    page = client.get("/questions").get_data(as_text=True)
    assert "Questions you could answer" in page
    shown = [str(escape(title)) for title in theirs]  # (one is the planted markup, escaped)
    assert theirs and others and all(title in page for title in shown)
    assert not any(str(escape(title)) in page for title in others)
