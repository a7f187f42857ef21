"""POST /v1/contributions: per-item results, idempotence, limits, audience rules."""

from __future__ import annotations

from service.api.scopes import CONTRIBUTIONS_WRITE, EXPERTS_READ
from tests.api.conftest import Api


def _item(external_id: str, **extra: object) -> dict:  # type: ignore[type-arg]
    return {"id": external_id, "kind": "article", "created": "2026-09-01T10:00:00Z",
            "author": {"id": "p1", "name": "Pat Partner", "email": "pat@partner.example"},
            "title": "Underwriting rules for partners", "text": "risk assessment basics",
            "tags": ["underwriting"], **extra}


def _push(api: Api, token: str, body: object):  # type: ignore[no-untyped-def]
    return api.client.post("/v1/contributions", json=body,
                           headers={"Authorization": f"Bearer {token}"})


def test_a_batch_gets_one_result_per_item_and_a_bad_one_sinks_nothing(api: Api) -> None:
    token = api.token([CONTRIBUTIONS_WRITE], "partner")
    body = {"source": "portal", "records": [_item("p-1"), {"id": "p-2", "kind": "poem"},
                                            _item("p-3")]}
    first = _push(api, token, body).get_json()
    assert [r["status"] for r in first["results"]] == ["created", "invalid", "created"]
    assert "kind" in first["results"][1]["error"]
    again = _push(api, token, body).get_json()
    assert [r["status"] for r in again["results"]] == ["unchanged", "invalid", "unchanged"]
    edited = _push(api, token, {"source": "portal", "records": [
        _item("p-1", text="risk assessment, revised", updated="2026-09-02T10:00:00Z")]})
    assert edited.get_json()["results"][0]["status"] == "updated"
    search = api.get("/v1/experts", api.token([EXPERTS_READ], "external"), q="underwriting")
    assert search.get_json()["hits"][0]["display_name"] == "Pat Partner"


def test_limits_and_bad_bodies_are_explained(api: Api) -> None:
    token = api.token([CONTRIBUTIONS_WRITE])
    too_many = _push(api, token, {"source": "portal", "records": [_item(f"x{i}")
                                                                  for i in range(1001)]})
    assert too_many.status_code == 413 and "records" in too_many.get_json()["errors"]
    for body, field in (([1, 2], "body"), ({"records": [_item("a")]}, "source"),
                        ({"source": "portal"}, "records")):
        response = _push(api, token, body)
        assert response.status_code == 400 and field in response.get_json()["errors"]
    unknown = _push(api, token, {"source": "nowhere", "records": [_item("a")]})
    assert unknown.status_code == 404


def test_an_outside_client_cannot_push_into_an_internal_source(api: Api) -> None:
    token = api.token([CONTRIBUTIONS_WRITE], "partner")
    response = _push(api, token, {"source": "blog", "records": [_item("sneaky")]})
    assert response.status_code == 403
    assert "sneaky" not in api.get("/v1/experts", api.token([EXPERTS_READ]),
                                   q="underwriting").get_data(as_text=True)
