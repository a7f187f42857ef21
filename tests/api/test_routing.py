"""The whole loop on the real pipeline and API: a question nobody from the company
answered becomes open with suggested answerers, subscribers hear of it, of its answer,
and of the employees newly connected to the asker's organisation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from service import pipeline
from service.api.scopes import ADMIN, EXPERTS_READ
from service.config import RoutingConfig
from service.connectors.base import Page
from service.identity import DirectoryEntry
from service.routing import webhooks
from service.routing.events import run_once
from service.routing.questions import route
from service.store import people as store_people
from service.store.schema import people
from tests.api.conftest import MARKER, Api, wait_until
from tests.conftest import NOW
from tests.records import BASE, record
from tests.routing.receiver import Receiver

#: days after BASE: the question is NOW - 2 days old (open after the default 24 hours)
ASKED = (NOW - BASE).days - 2


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _ingest(api: Api, source: str, records: list) -> None:  # type: ignore[type-arg]
    pipeline.ingest_pages(api.services, source, [Page(records, cursor=None)], full_pass=False)


def _ask(api: Api) -> None:
    _ingest(api, "forum", [record("q50", "cust50", kind="question", email="c50@customer.example",
                                  day=ASKED, title="Medical insurance claims adjudication rules?",
                                  text="How does claims adjudication work?", tags=["claims"])])


def _open(api: Api, token: str, **params: object) -> list[dict]:  # type: ignore[type-arg]
    response = api.get("/v1/questions/open", token, **params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]  # type: ignore[no-any-return]


def _subscribe(api: Api, receiver: Receiver, token_for: Callable[..., str]) -> int:
    response = api.client.post("/v1/webhooks", json={
        "url": receiver.url, "events": ["question.open", "question.answered",
                                        "organisation.connection_changed"]},
        headers={"Authorization": f"Bearer {token_for([ADMIN])}"})
    assert response.status_code == 201, response.get_json()
    receiver.secret = response.get_json()["secret"]
    return int(response.get_json()["id"])


def test_an_unanswered_question_is_open_with_the_employee_who_knows_first(
        api: Api, token_for: Callable[..., str]) -> None:
    _ask(api)
    token = token_for([EXPERTS_READ])
    found = _open(api, token)
    assert [q["title"] for q in found] == ["Medical insurance claims adjudication rules?"]
    question = found[0]
    assert question["organisation"] == {"id": "customer-example", "name": "Customer"}
    first = question["suggested"][0]
    assert first["employee"] and first["reason"].startswith("employee")
    dana = api.get("/v1/people", token_for(["profiles:read"]),
                   email="dana@corp.example").get_json()["id"]
    assert first["person_id"] == dana
    assert question["asker"]["person_id"] not in [s["person_id"] for s in question["suggested"]]
    # the filters
    assert _open(api, token, source="blog") == []
    assert len(_open(api, token, topic="claims adjudication")) == 1
    assert _open(api, token, topic="kubernetes deployment") == []
    assert len(_open(api, token, organisation="customer-example")) == 1
    assert len(_open(api, token, suggested_for=dana)) == 1
    # q1 was answered by Dana (accepted): never open
    assert "How are medical insurance claims adjudicated?" not in [q["title"] for q in found]


def test_an_employee_away_or_opted_out_is_not_suggested(
        api: Api, token_for: Callable[..., str]) -> None:
    _ask(api)
    token = token_for([EXPERTS_READ])
    with api.services.engine.begin() as conn:
        store_people.import_directory(conn, [DirectoryEntry(
            "dana@corp.example", "Dana", None, {"blog": "dana"},
            away_until=(NOW + timedelta(days=7)).date().isoformat())])
    pipeline.resolve_and_recompute(api.services, set())
    dana = api.get("/v1/people", token_for(["profiles:read"]),
                   email="dana@corp.example").get_json()["id"]
    assert dana not in [s["person_id"] for s in _open(api, token)[0]["suggested"]]
    with api.services.engine.begin() as conn:
        store_people.import_directory(conn, [DirectoryEntry("dana@corp.example", "Dana", None,
                                                            {"blog": "dana"})])
        conn.execute(update(people).where(people.c.id == dana).values(opt_out_external=True))
    assert dana not in [s["person_id"] for s in _open(api, token)[0]["suggested"]]


def test_suggestions_spread_over_people_once_someone_has_many(api: Api) -> None:
    _ingest(api, "blog", [record("b60", "eva", kind="blog_post", email="eva@corp.example",
                                 title="Medical insurance claims basics", tags=["claims"])])
    _ingest(api, "forum", [
        record(f"q6{i}", f"cust6{i}", kind="question", day=ASKED - i,
               title=f"Medical insurance claims question {i}", tags=["claims"])
        for i in range(3)])
    services = api.services

    def suggested(limit: int) -> list[list[int]]:
        config = RoutingConfig(suggestions=1, max_open_suggestions=limit)
        with services.engine.connect() as conn:
            found = route(conn, services.index, config, "company", NOW, services.vocabulary)
        return [[s.person_id for s in q.suggested] for q in found]

    unlimited = suggested(100)
    best = unlimited[0][0]
    assert unlimited == [[best]] * 3
    spread = suggested(2)  # the oldest two go to the best, the third to the next employee
    with api.services.engine.connect() as conn:
        eva, dana = (store_people.person_of(conn, store_people.find_identity(conn, "blog", a)
                                            or 0) for a in ("eva", "dana"))
    assert spread[:2] == [[best], [best]] and len(spread[2]) == 1
    assert {best, spread[2][0]} == {eva, dana}


def test_subscribers_hear_of_open_answered_and_new_connections(
        api: Api, token_for: Callable[..., str], receiver: Receiver) -> None:
    subscription = _subscribe(api, receiver, token_for)
    services = api.services
    run_once(services, services.clock)  # the connections as they are: announced once
    connected = [e for e in receiver.processed.values()
                 if e["type"] == "organisation.connection_changed"]
    assert [e["data"]["organisation"]["id"] for e in connected] == ["customer-example"]

    _ask(api)
    scanned, delivered = run_once(services, services.clock)
    assert (scanned.opened, delivered.delivered) == (1, 1)
    assert run_once(services, services.clock)[0].opened == 0  # announced once
    opened = [e for e in receiver.processed.values() if e["type"] == "question.open"]
    assert opened[0]["data"]["title"] == "Medical insurance claims adjudication rules?"
    assert opened[0]["data"]["suggested"]

    # Ivan (an employee who never talked to the customer) answers
    _ingest(api, "blog", [record("b70", "ivan", kind="blog_post", email="ivan@corp.example",
                                 title="Fraud models", tags=["fraud"])])
    _ingest(api, "forum", [record("a50", "ivan_f", email="ivan@corp.example", thread="q50",
                                  day=ASKED + 1, text="Adjudication follows the rules")])
    scanned, _ = run_once(services, services.clock)
    assert (scanned.answered, scanned.organisations_changed) == (1, 1)
    answered = [e for e in receiver.processed.values() if e["type"] == "question.answered"]
    assert answered[0]["data"]["answers"][0]["employee"] is True
    changed = [e["data"] for e in receiver.processed.values()
               if e["type"] == "organisation.connection_changed"][-1]
    ivan = api.get("/v1/people", token_for(["profiles:read"]),
                   email="ivan@corp.example").get_json()["id"]
    assert [p["person_id"] for p in changed["added"]] == [ivan] and changed["removed"] == []

    assert all(a.signed for a in receiver.attempts)
    listed = api.get(f"/v1/webhooks/{subscription}/deliveries", token_for([ADMIN])).get_json()
    assert listed["total"] == 4 and {d["status"] for d in listed["items"]} == {"delivered"}
    assert MARKER not in str(receiver.processed)  # an external question's events


def test_the_api_process_itself_tells_subscribers_with_no_deliverer_running(
        api: Api, make_api: Callable[..., Api], token_for: Callable[..., str],
        receiver: Receiver) -> None:
    """The embedded default: no `whoknows webhooks deliver`, no worker; the API's own job
    thread starts with the first subscription and makes the passes."""
    served = make_api(env={"WHOKNOWS_WEBHOOKS_POLL_SECONDS": "0.2"})
    _subscribe(served, receiver, token_for)
    _ask(served)

    def heard() -> list[dict]:  # type: ignore[type-arg]
        return [e for e in receiver.processed.values() if e["type"] == "question.open"]

    wait_until(lambda: bool(heard()), "the question.open delivery", timeout=30)
    assert heard()[0]["data"]["title"] == "Medical insurance claims adjudication rules?"
    assert all(a.signed for a in receiver.attempts)

    def delivered_all() -> bool:
        with served.services.engine.connect() as conn:
            return webhooks.pending_count(conn) == 0

    wait_until(delivered_all, "the outbox to empty", timeout=30)
    assert len(heard()) == 1  # once, however many passes the thread made since


def test_a_webhook_url_inside_the_network_is_refused_naming_the_field(
        make_api: Callable[..., Api], token_for: Callable[..., str]) -> None:
    strict = make_api(env={"WHOKNOWS_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "false"})
    admin = {"Authorization": f"Bearer {token_for([ADMIN])}"}
    for url in ("http://127.0.0.1:8080/hook", "http://169.254.169.254/latest/meta-data/",
                "http://10.0.0.7/hook", "http://[::1]/hook", "http://localhost:9/"):
        response = strict.client.post("/v1/webhooks", json={"url": url,
                                                            "events": ["question.open"]},
                                      headers=admin)
        assert response.status_code == 400, url
        assert response.headers["Content-Type"] == "application/problem+json"
        assert "allow_private_networks" in response.get_json()["errors"]["url"][0]
    listed = strict.get("/v1/webhooks", token_for([ADMIN])).get_json()
    assert listed["items"] == []


def test_webhook_requests_are_validated_and_internal_only(
        api: Api, token_for: Callable[..., str]) -> None:
    admin = {"Authorization": f"Bearer {token_for([ADMIN])}"}
    cases = [({"events": ["question.open"]}, "url"),
             ({"url": "ftp://x.example/", "events": ["question.open"]}, "url"),
             ({"url": "https://x.example/", "events": []}, "events"),
             ({"url": "https://x.example/", "events": ["question.closed"]}, "events")]
    for body, field in cases:
        response = api.client.post("/v1/webhooks", json=body, headers=admin)
        assert response.status_code == 400 and field in response.get_json()["errors"], body
    created = api.client.post("/v1/webhooks", json={"url": "https://x.example/h",
                                                    "events": ["question.open"]}, headers=admin)
    hook = created.get_json()["id"]
    assert "secret" not in api.get(f"/v1/webhooks/{hook}", token_for([ADMIN])).get_json()
    assert "secret" not in str(api.get("/v1/webhooks", token_for([ADMIN])).get_json())
    bad = api.get(f"/v1/webhooks/{hook}/deliveries", token_for([ADMIN]), status="lost")
    assert bad.status_code == 400 and "status" in bad.get_json()["errors"]
    for audience in ("external", "partner"):
        token = token_for([ADMIN, EXPERTS_READ], audience)
        for path in ("/v1/webhooks", f"/v1/webhooks/{hook}",
                     f"/v1/webhooks/{hook}/deliveries", "/v1/questions/open"):
            response = api.get(path, token)
            assert response.status_code == 403, path
            assert "x.example" not in response.get_data(as_text=True)
        post = api.client.post("/v1/webhooks", json={"url": "https://y.example/",
                                                     "events": ["question.open"]},
                               headers={"Authorization": f"Bearer {token}"})
        assert post.status_code == 403
    assert api.client.delete(f"/v1/webhooks/{hook}", headers=admin).status_code == 204
    assert api.get(f"/v1/webhooks/{hook}", token_for([ADMIN])).status_code == 404
    # the inbound Discourse webhook beside them is still its own route
    inbound = api.client.post("/v1/webhooks/discourse/forum", json={}, headers=admin)
    assert inbound.status_code == 404
    assert "no Discourse source 'forum'" in inbound.get_json()["detail"]


def test_after_employees_come_trusted_members_and_not_the_others(
        api: Api, token_for: Callable[..., str]) -> None:
    old = ASKED - 30
    _ingest(api, "forum", [
        rec for i in range(3) for rec in (
            record(f"q9{i}", f"cust9{i}", kind="question", day=old + i,
                   title=f"Claims adjudication delay {i}", tags=["claims"]),
            record(f"a9{i}", "guru", thread=f"q9{i}", accepted=True, day=old + i,
                   text="Medical insurance claims adjudication takes a week"))])
    _ask(api)
    found = _open(api, token_for([EXPERTS_READ]))
    suggested = found[0]["suggested"]
    assert [s["employee"] for s in suggested] == [True, False]  # Dana, then the guru
    assert suggested[1]["reason"].startswith("trusted community member")
    assert "3 accepted answers" in suggested[1]["reason"]
    # the six helpers matched the words too, but nobody accepted their answers
    names = {s["display_name"] for s in suggested}
    assert not any(name.startswith("Helper") for name in names)
