"""The identity review queue and audit log through the API: suggestion, accept, undo,
reject that sticks across a rebuild, export, and who may do any of it."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from service import pipeline
from service.api.scopes import ADMIN, CONTRIBUTIONS_WRITE, EXPERTS_READ, PROFILES_READ
from service.connectors.base import Page
from service.identity import DirectoryEntry
from service.store import people as store_people
from tests.api.conftest import MARKER, Api
from tests.records import record


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def priya(api: Api) -> Api:
    """An employee on the intranet blog and, under a nickname and no e-mail, on the
    customer forum: the rules cannot link them, a suggestion can."""
    def ingest(source: str, records: list[Any]) -> None:
        pipeline.ingest_pages(api.services, source, [Page(records, cursor=None)],
                              full_pass=False)

    ingest("blog", [record("b20", "priya", kind="blog_post", email="priya@corp.example",
                           name="Priya Natarajan", tags=["fraud"],
                           title=f"Fraud detection rules {MARKER}",
                           text=f"fraud detection in claims {MARKER}")])
    ingest("forum", [record("q20", "cust20", kind="question", tags=["fraud"],
                            title="Fraud detection false positives?"),
                     record("a20", "PriyaN", name="Priya Natarajan", thread="q20",
                            accepted=True, tags=["fraud"],
                            text="fraud detection: tune the threshold")])
    return api


def _pair(api: Api, status: str = "open") -> dict[str, Any] | None:
    body = api.get("/v1/identity/suggestions", api.token([ADMIN]), status=status).get_json()
    return next((s for s in body["items"]
                 if {p["display_name"] for p in s["people"]} == {"Priya Natarajan"}), None)


def _priyas(api: Api) -> list[int]:
    hits = api.get("/v1/experts", api.token([EXPERTS_READ]), q="fraud detection",
                   limit=20).get_json()["hits"]
    return [h["person_id"] for h in hits if h["display_name"] == "Priya Natarajan"]


def _person(api: Api, source: str, account: str) -> int | None:
    with api.services.engine.connect() as conn:
        identity = store_people.find_identity(conn, source, account)
        return store_people.person_of(conn, identity) if identity else None


def _badge(api: Api, source: str, account: str) -> Any:
    return api.client.get(f"/v1/badges/by-account/{source}/{account}.json")


def test_accept_merges_then_undo_splits_with_three_audit_entries(priya: Api) -> None:
    api, admin = priya, _auth(priya.token([ADMIN]))
    pair = _pair(api)
    assert pair is not None and pair["confidence"] >= 0.5
    assert "same_name_internal_external" in [r["code"] for r in pair["reasons"]]
    assert {a["source"] for p in pair["people"] for a in p["accounts"]} == {"blog", "forum"}
    assert len(_priyas(api)) == 2
    before_badge = _badge(api, "forum", "PriyaN").get_json()

    accepted = api.client.post(f"/v1/identity/suggestions/{pair['id']}/accept",
                               headers=admin, json={"reason": "same person, asked her"})
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    body = accepted.get_json()
    assert body["suggestion"]["status"] == "accepted"
    person = body["person_id"]
    assert _priyas(api) == [person]
    assert _person(api, "forum", "PriyaN") == _person(api, "blog", "priya") == person
    merged_badge = api.client.get(f"/v1/badges/{person}.json").get_json()
    assert _badge(api, "forum", "PriyaN").get_json() == merged_badge
    assert MARKER not in json.dumps(merged_badge)  # the internal work stays internal
    again = api.client.post(f"/v1/identity/suggestions/{pair['id']}/accept", headers=admin)
    assert again.status_code == 409 and "already accepted" in again.get_json()["detail"]

    history = api.get("/v1/identity/audit", api.token([ADMIN]), person=person).get_json()
    assert [(e["action"], e["method"]) for e in history["items"]] == [
        ("accept", "suggestion"), ("merge", "suggestion")]
    merge = history["items"][1]
    assert merge["actor"].startswith("client:") and merge["reason"] == "same person, asked her"
    assert len(merge["before"]) == 2 and len(merge["after"]) == 1

    undone = api.client.post(f"/v1/identity/audit/{merge['id']}/undo", headers=admin,
                             json={"reason": "she says no"})
    assert undone.status_code == 200, undone.get_data(as_text=True)
    assert len(_priyas(api)) == 2
    assert _person(api, "forum", "PriyaN") != _person(api, "blog", "priya") == person
    assert _badge(api, "forum", "PriyaN").get_json() == before_badge
    history = api.get("/v1/identity/audit", api.token([ADMIN]), person=person).get_json()
    assert [(e["action"], e["method"]) for e in history["items"]] == [
        ("accept", "suggestion"), ("merge", "suggestion"), ("split", "undo")]
    assert history["items"][2]["undoes"] == merge["id"]
    assert _pair(api) is None and _pair(api, "undone") is not None  # never suggested again
    twice = api.client.post(f"/v1/identity/audit/{merge['id']}/undo", headers=admin)
    assert twice.status_code == 409


def test_a_reject_is_sticky_across_a_full_rebuild_and_a_directory_naming_both(
        priya: Api) -> None:
    api, admin = priya, _auth(priya.token([ADMIN]))
    pair = _pair(api)
    assert pair is not None
    rejected = api.client.post(f"/v1/identity/suggestions/{pair['id']}/reject", headers=admin)
    assert rejected.status_code == 200 and rejected.get_json()["suggestion"]["status"] == \
        "rejected"
    pipeline.rebuild(api.services)
    with api.services.engine.begin() as conn:
        store_people.import_directory(conn, [DirectoryEntry(
            "priya@corp.example", "Priya Natarajan", "Claims",
            {"blog": "priya", "forum": "PriyaN"})])
    pipeline.resolve_and_recompute(api.services, set())
    pipeline.rebuild(api.services)
    assert _pair(api) is None and _pair(api, "rejected") is not None
    assert len(_priyas(api)) == 2
    person = _person(api, "blog", "priya")
    history = api.get("/v1/identity/audit", api.token([ADMIN]), person=person).get_json()
    assert [e["action"] for e in history["items"]] == ["reject"]


def test_the_audit_log_exports_as_json_lines_and_csv(priya: Api) -> None:
    api, token = priya, priya.token([ADMIN])
    pair = _pair(api)
    assert pair is not None
    api.client.post(f"/v1/identity/suggestions/{pair['id']}/accept", headers=_auth(token))
    listed = api.get("/v1/identity/audit", token).get_json()["items"]
    lines = api.get("/v1/identity/audit", token, format="jsonl")
    assert lines.mimetype == "application/jsonl"
    assert [json.loads(line) for line in lines.get_data(as_text=True).splitlines()] == listed
    table = api.get("/v1/identity/audit", token, format="csv")
    assert table.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(table.get_data(as_text=True))))
    assert [int(r["id"]) for r in rows] == [e["id"] for e in listed]
    assert rows[-1]["action"] == "merge" and ";" in rows[-1]["before"]
    # the rules' own merges are there too: dana's blog and forum accounts, by e-mail
    assert any(e["method"] == "email" and e["actor"] == "whoknows" for e in listed)
    paged = api.get("/v1/identity/audit", token, limit=1).get_json()
    assert len(paged["items"]) == 1 and paged["next_after"] == listed[0]["id"]


def test_manual_link_and_unlink_are_audited_too(priya: Api) -> None:
    api, admin = priya, _auth(priya.token([ADMIN]))
    person = _person(api, "blog", "priya")
    linked = api.client.post(f"/v1/people/{person}/links", headers=admin, json={
        "identity": {"source": "forum", "account": "PriyaN"}, "reason": "ticket 42"})
    assert linked.status_code == 201
    with api.services.engine.connect() as conn:
        forum = store_people.find_identity(conn, "forum", "PriyaN")
    assert api.client.delete(f"/v1/people/{person}/links/{forum}",
                             headers=admin).status_code == 204
    history = api.get("/v1/identity/audit", api.token([ADMIN]), person=person).get_json()
    assert [(e["action"], e["method"], e["reason"]) for e in history["items"]] == [
        ("merge", "manual", "ticket 42"), ("split", "manual", None)]


@pytest.mark.parametrize("path, method", [
    ("/v1/identity/suggestions", "get"),
    ("/v1/identity/suggestions/1/accept", "post"),
    ("/v1/identity/suggestions/1/reject", "post"),
    ("/v1/identity/audit", "get"),
    ("/v1/identity/audit/1/undo", "post"),
])
def test_only_an_internal_admin_reviews_identity(priya: Api, path: str, method: str) -> None:
    api = priya
    assert getattr(api.client, method)(path).status_code == 401
    for scopes in ([EXPERTS_READ, PROFILES_READ, CONTRIBUTIONS_WRITE],):
        refused = getattr(api.client, method)(path, headers=_auth(api.token(scopes)))
        assert refused.status_code == 403
    outside = getattr(api.client, method)(path, headers=_auth(api.token([ADMIN], "external")))
    assert outside.status_code == 403
    assert MARKER not in outside.get_data(as_text=True)
    assert "Priya" not in outside.get_data(as_text=True)


def test_malformed_review_requests_name_the_field(priya: Api) -> None:
    api, token = priya, priya.token([ADMIN])
    for params, field in (({"status": "maybe"}, "status"), ({"min_confidence": "2"},
                          "min_confidence"), ({"limit": "0"}, "limit")):
        bad = api.get("/v1/identity/suggestions", token, **params)
        assert bad.status_code == 400 and field in bad.get_json()["errors"]
        assert bad.mimetype == "application/problem+json"
    bad = api.get("/v1/identity/audit", token, format="xml")
    assert bad.status_code == 400 and "format" in bad.get_json()["errors"]
    pair = _pair(api)
    assert pair is not None
    wrong = api.client.post(f"/v1/identity/suggestions/{pair['id']}/accept",
                            headers=_auth(token), json={"reason": 7})
    assert wrong.status_code == 400 and "reason" in wrong.get_json()["errors"]
    assert api.client.post("/v1/identity/suggestions/999999/reject",
                           headers=_auth(token)).status_code == 404
    assert api.client.post("/v1/identity/audit/999999/undo",
                           headers=_auth(token)).status_code == 404


def test_a_rules_merge_can_be_undone_and_stays_undone(priya: Api) -> None:
    """Dana's blog and forum accounts share a verified e-mail: the rule merged them. An
    undo splits them for good, through a full rebuild too."""
    api, admin = priya, _auth(priya.token([ADMIN]))
    dana = _person(api, "blog", "dana")
    [merge] = [e for e in api.get("/v1/identity/audit", api.token([ADMIN]),
                                  person=dana).get_json()["items"] if e["method"] == "email"]
    assert merge["actor"] == "whoknows" and merge["action"] == "merge"
    assert api.client.post(f"/v1/identity/audit/{merge['id']}/undo",
                           headers=admin).status_code == 200
    pipeline.rebuild(api.services)
    assert _person(api, "forum", "dana_f") != _person(api, "blog", "dana") == dana
    history = api.get("/v1/identity/audit", api.token([ADMIN]), person=dana).get_json()
    assert [(e["action"], e["method"]) for e in history["items"]] == [
        ("merge", "email"), ("split", "undo")]
