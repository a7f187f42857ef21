"""Generated from openapi.yaml, so that a new endpoint cannot slip through untested:
every operation × every scope is allowed or 403 as the contract says, and no response to
an external client carries anything internal.

Each operation gets exactly the parameters it declares, with a sensible value, so that an
allowed call is answered (2xx, or 404 for what this client may not see) rather than
refused as a bad request before it reaches the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from service import pipeline
from service.api.scopes import ALL_SCOPES
from service.connectors.base import Page
from service.reputation.topics import tokens
from tests.api.conftest import MARKER, Api
from tests.records import record

CONTRACT = yaml.safe_load((Path(__file__).parents[2] / "openapi.yaml").read_text())
METHODS = {"get", "post", "put", "patch", "delete"}
TOPIC = "medical insurance claims"
#: the topic an internal post tagged with the marker is on (topics are normalised)
MARKER_TOPIC = " ".join(tokens(MARKER))
#: a value for each query parameter the contract declares; `cursor` is followed from the
#: first page's next_cursor, `source` only narrows a search
QUERY = {"q": MARKER, "email": "dana@corp.example", "topic": TOPIC, "since": "2020-01-01",
         "limit": 20, "weeks": 104, "size": 8, "explain": "true", "full": "false",
         # organisations, open questions, webhook deliveries
         "crm_account_id": "CRM-1", "domain": "customer.example", "organisation": "customer",
         "suggested_for": 1, "status": "pending", "state": "failed",
         # the identity review's (issue 16)
         "min_confidence": 0, "after": 1, "person": 1, "format": "json", "reason": "matrix"}
#: where one name means different things: the identity suggestions' `status` is a review state
PATH_QUERY = {"/v1/identity/suggestions": {"status": "open"}}
LEFT_OUT = {"cursor", "source"}


def _parameters(item: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for parameter in item.get("parameters", []) + operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = CONTRACT["components"]["parameters"][parameter["$ref"].split("/")[-1]]
        found.append(parameter)
    return found


def _operations() -> list[tuple[str, str, list[str], list[str]]]:
    """(path, method, scopes, query parameter names) of each protected operation."""
    found = []
    for path, item in CONTRACT["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            security = operation.get("security", CONTRACT["security"])
            scopes = [s for requirement in security for s in requirement.get("oauth2", [])]
            if security:
                query = [p["name"] for p in _parameters(item, operation) if p["in"] == "query"]
                found.append((path, method, scopes, query))
    return found


OPERATIONS = _operations()
IDS = [f"{m.upper()} {p}" for p, m, _, _ in OPERATIONS]


def _call(api: Api, token: str | None, path: str, method: str, query: list[str],
          values: dict[str, Any], cursor: str | None = None) -> Any:
    url = path.format(**values)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    given = QUERY | PATH_QUERY.get(path, {})
    params = {name: given[name] for name in query if name not in LEFT_OUT}
    if cursor:
        params["cursor"] = cursor
    body = {"source": "portal", "records": [{"id": MARKER}],
            "identity": {"source": "blog", "account": "dana"}}
    return api.client.open(url, method=method.upper(), headers=headers, query_string=params,
                           json=body if method in {"post", "put", "patch"} else None)


@pytest.fixture
def values(api: Api) -> dict[str, Any]:
    """Path values, on the `api` community plus internal work the insight endpoints
    could leak: a colleague whose name carries the marker, working with Dana on the
    shared topic in her intranet thread, and her post on an internal-only topic."""
    from service.store.people import find_identity, person_of

    pipeline.ingest_pages(api.services, "blog", [Page([
        record("b2", "ivan", kind="comment", name=f"Ivan {MARKER}", thread="b1",
               parent="b1", tags=["claims"], text="Claims adjudication, internally"),
        record("b3", "dana", kind="blog_post", email="dana@corp.example",
               title="Roadmap", tags=[MARKER], text="Internal roadmap"),
    ], cursor=None)], full_pass=False)
    from datetime import UTC, datetime

    from service.store import jobs as store_jobs

    with api.services.engine.begin() as conn:
        identity = find_identity(conn, "blog", "dana")
        person = person_of(conn, identity)  # type: ignore[arg-type]
        # a sync job of the internal blog, failed with an internal URL in its error
        job = store_jobs.create_job(conn, "blog", False, "test", datetime.now(UTC))
        store_jobs.cancel(conn, job.id, datetime.now(UTC),
                          f"HTTP 500 from https://intranet.example/{MARKER}")
    return {"person_id": 99999, "identity_id": identity, "source_id": "forum",
            "real_person": person, "topic": TOPIC, "job_id": job.id,
            "organisation_id": "customer-example", "webhook_id": 1, "suggestion_id": 1,
            "entry_id": 1}


def test_every_operation_is_protected_and_documented() -> None:
    assert len(OPERATIONS) >= 11
    assert all(scopes for _, _, scopes, _ in OPERATIONS), "each operation names its scope"


def test_every_query_parameter_has_a_value() -> None:
    declared = {name for _, _, _, query in OPERATIONS for name in query}
    assert declared - LEFT_OUT <= set(QUERY), "give a new query parameter a value in QUERY"


@pytest.mark.parametrize(("path", "method", "required", "query"), OPERATIONS, ids=IDS)
def test_scope_matrix(api: Api, values: dict[str, Any], path: str, method: str,
                      required: list[str], query: list[str]) -> None:
    values = {**values, "person_id": values["real_person"]}
    assert _call(api, None, path, method, query, values).status_code == 401
    for scope in ALL_SCOPES:
        response = _call(api, api.token([scope]), path, method, query, values)
        if scope in required:
            assert response.status_code not in (401, 403), (scope, response.get_json())
            if method == "get":
                assert response.status_code in (200, 404), (scope, response.get_json())
        else:
            assert response.status_code == 403, (scope, response.status_code)


def test_the_insight_endpoints_have_internal_data_to_leak(api: Api, values: dict[str, Any]
                                                          ) -> None:
    """What the leak test guards against is there for an internal client to see."""
    token = api.token(list(ALL_SCOPES))
    person = values["real_person"]
    for path in ("/v1/graph", f"/v1/topics/{TOPIC}/group", f"/v1/people/{person}/connections",
                 f"/v1/topics/{MARKER_TOPIC}/activity"):
        response = api.get(path, token, topic=TOPIC) if path == "/v1/graph" else api.get(
            path, token)
        assert response.status_code == 200, path
        assert MARKER in response.get_data(as_text=True) or "activity" in path, path
    activity = api.get(f"/v1/topics/{MARKER_TOPIC}/activity", token).get_json()
    assert activity["topic"] == MARKER_TOPIC


@pytest.mark.parametrize(("path", "method", "required", "query"), OPERATIONS, ids=IDS)
def test_no_internal_data_reaches_an_external_client(
    api: Api, values: dict[str, Any], path: str, method: str, required: list[str],
    query: list[str],
) -> None:
    token = api.token(list(ALL_SCOPES), "external")
    for person in (values["real_person"], 99999):
        for topic in (TOPIC, MARKER_TOPIC):
            called = {**values, "person_id": person, "topic": topic}
            response = _call(api, token, path, method, query, called)
            text = response.get_data(as_text=True)
            # a search names the topics it read in the caller's own `q` (the marker)
            echoed = {MARKER_TOPIC} if "q" in query else set()
            for internal in {MARKER, MARKER_TOPIC, "intranet.example"} - echoed:
                assert internal not in text, (path, method, internal)
            cursor = (response.get_json(silent=True) or {}).get("next_cursor")
            if cursor:
                follow = _call(api, token, path, method, query, called, cursor)
                assert MARKER not in follow.get_data(as_text=True)
