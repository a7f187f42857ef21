"""The insight endpoints on the planted community: what each audience sees, and that
nothing internal reaches an external client."""

from __future__ import annotations

import pytest

from service import pipeline
from service.api import create_app
from service.store.people import find_identity, person_of
from tests.api.conftest import Api, ContractClient
from tests.insight import planted

READ = ["experts:read", "profiles:read"]


@pytest.fixture
def community(services: pipeline.Services) -> Api:
    planted.load(services)
    app = create_app({"SERVICES": services, "TESTING": True})
    app.test_client_class = ContractClient
    return Api(app, app.test_client(), services)


def _person(api: Api, source: str, account: str) -> int:
    with api.services.engine.connect() as conn:
        return person_of(conn, find_identity(conn, source, account))  # type: ignore[arg-type,return-value]


def test_trending_shows_the_planted_burst(community: Api) -> None:
    response = community.get("/v1/topics/trending", community.token(READ), weeks=52)
    assert response.status_code == 200
    [burst] = [b for b in response.get_json()["items"] if b["topic"] == planted.BURST_TOPIC]
    assert burst["ongoing"] is False and burst["peak_contributions"] == 20


def test_activity_by_synonym_with_weekly_counts(community: Api) -> None:
    response = community.get("/v1/topics/GDPR/activity", community.token(READ), weeks=30)
    body = response.get_json()
    assert response.status_code == 200 and body["topic"] == planted.BURST_TOPIC
    assert len(body["weeks"]) == 30 and len(body["bursts"]) == 1


def test_bad_parameters_are_a_400_naming_the_field(community: Api) -> None:
    token = community.token(READ)
    response = community.get("/v1/graph", token, limit=0)
    assert response.status_code == 400 and "limit" in response.get_json()["errors"]
    response = community.get("/v1/topics/gdpr/group", token, size="many")
    assert response.status_code == 400 and "size" in response.get_json()["errors"]
    assert community.get("/v1/graph", token, cursor="nope").status_code == 400


def test_graph_pages_through_every_edge(community: Api) -> None:
    token = community.token(READ)
    first = community.get("/v1/graph", token, limit=5).get_json()
    assert len(first["edges"]) == 5 and first["total"] > 5
    ids = {node["id"] for node in first["nodes"]}
    assert {e["source"] for e in first["edges"]} | {e["target"] for e in first["edges"]} == ids
    seen = len(first["edges"])
    cursor = first["next_cursor"]
    while cursor:
        page = community.get("/v1/graph", token, limit=5, cursor=cursor).get_json()
        seen += len(page["edges"])
        cursor = page["next_cursor"]
    assert seen == first["total"]


def test_internal_callers_see_the_bridge_and_a_group_across_communities(
    community: Api
) -> None:
    token = community.token(READ)
    bea = _person(community, "blog", "bea")
    graph = community.get("/v1/graph", token, topic="claims adjudication").get_json()
    assert graph["bridges"][0]["person_id"] == bea
    group = community.get("/v1/topics/medical insurance claims/group", token, size=5)
    members = group.get_json()["members"]
    assert {m["community"] for m in members} == {"internal", "external", "partner"}
    connections = community.get(f"/v1/people/{bea}/connections", token).get_json()["items"]
    assert {c["outside"] for c in connections} == {False}  # Bea is on both sides
    profile = community.get(f"/v1/people/{bea}", token).get_json()
    assert profile["recent_topics"][0]["topic"] == planted.CLAIMS


def test_an_external_client_sees_only_the_external_map(community: Api) -> None:
    token = community.token(READ, "external")
    employees = {_person(community, "blog", f"emp{i}") for i in range(1, 5)}
    bea = _person(community, "blog", "bea")
    for params in ({}, {"topic": "claims adjudication"}):
        graph = community.get("/v1/graph", token, **params).get_json()
        nodes = {node["id"] for node in graph["nodes"]}
        assert bea in nodes and not nodes & employees
        assert all("internal" not in n["communities"] for n in graph["nodes"] + graph["bridges"])
    responses = [
        community.get("/v1/topics/trending", token, weeks=104),
        community.get("/v1/topics/medical insurance claims/group", token, size=30),
        community.get(f"/v1/people/{bea}/connections", token, limit=100),
        community.get(f"/v1/people/{bea}", token),
    ]
    for response in responses:
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert planted.INTERNAL_TOPIC not in text and '"internal"' not in text
        assert not {m.get("person_id") for m in response.get_json().get("members", [])} & employees
    connections = responses[2].get_json()["items"]
    assert connections and not {c["person_id"] for c in connections} & employees
    for path in (f"/v1/topics/{planted.INTERNAL_TAG}/activity",
                 f"/v1/topics/{planted.INTERNAL_TAG}/group",
                 f"/v1/people/{_person(community, 'blog', 'emp1')}/connections"):
        response = community.get(path, token)
        assert response.status_code == 404, path
        assert planted.INTERNAL_TOPIC not in response.get_data(as_text=True)


def test_opted_out_people_are_hidden_from_external_clients(community: Api) -> None:
    from sqlalchemy import update

    from service.insight import refresh
    from service.store.schema import people

    cust1 = _person(community, "forum", "cust1")
    with community.services.engine.begin() as conn:
        conn.execute(update(people).where(people.c.id == cust1).values(opt_out_external=True))
    refresh(community.services.engine, community.services.settings, community.services.clock)
    external = community.get("/v1/graph", community.token(READ, "external"), limit=1000)
    internal = community.get("/v1/graph", community.token(READ), limit=1000)
    assert cust1 not in {node["id"] for node in external.get_json()["nodes"]}
    assert cust1 in {node["id"] for node in internal.get_json()["nodes"]}
