"""The organisations endpoints on the real pipeline: a CRM registers an organisation and
finds it by its own id, the connections name the employee who really answered its people,
bad bodies are 400s naming the field, and only internal clients get in."""

from __future__ import annotations

from collections.abc import Callable

from service.api.scopes import ADMIN, EXPERTS_READ, PROFILES_READ
from tests.api.conftest import MARKER, Api


def _put(api: Api, token: str, org_id: str, body: object):  # type: ignore[no-untyped-def]
    return api.client.put(f"/v1/organisations/{org_id}", json=body,
                          headers={"Authorization": f"Bearer {token}"})


def test_a_customer_domain_makes_an_organisation_a_crm_can_register(
        api: Api, token_for: Callable[..., str]) -> None:
    read, admin = token_for([PROFILES_READ]), token_for([ADMIN])
    derived = api.get("/v1/organisations/customer-example", read).get_json()
    assert (derived["origin"], derived["domains"], derived["members"]) == (
        "derived", ["customer.example"], 1)

    created = _put(api, admin, "customer-inc", {"name": "Customer Inc",
                                                "domains": ["Customer.example"],
                                                "crm_account_id": "0015g00000XyZ"})
    assert created.status_code == 201, created.get_json()
    again = _put(api, admin, "customer-inc", {"name": "Customer Inc.",
                                              "domains": ["customer.example"],
                                              "crm_account_id": "0015g00000XyZ"})
    assert again.status_code == 200
    found = api.get("/v1/organisations", read, crm_account_id="0015g00000XyZ").get_json()
    assert [(o["id"], o["name"], o["members"]) for o in found["items"]] == [
        ("customer-inc", "Customer Inc.", 1)]
    # the derived organisation gave its domain and its member over, and is gone
    assert api.get("/v1/organisations/customer-example", read).status_code == 404
    searched = api.get("/v1/organisations", read, q="customer.EX").get_json()
    assert [o["id"] for o in searched["items"]] == ["customer-inc"]


def test_connections_name_the_employee_who_answered_with_evidence(
        api: Api, token_for: Callable[..., str]) -> None:
    token = token_for([PROFILES_READ])
    body = api.get("/v1/organisations/customer-example/connections", token).get_json()
    dana = api.get("/v1/people", token, email="dana@corp.example").get_json()["id"]
    first = body["items"][0]
    assert first["person_id"] == dana
    assert first["evidence"]["accepted_answers"] == 1
    assert first["evidence"]["likes"] == 1  # the customer liked her answer
    assert first["evidence"]["replies"] == 1  # her answer to the question
    assert body["total"] == 1  # the helpers are not employees
    topics = api.get("/v1/organisations/customer-example/topics", token).get_json()
    assert "medical insurance claims" in [t["topic"] for t in topics["items"]]


def test_bad_bodies_and_ids_are_400s_naming_the_field(
        api: Api, token_for: Callable[..., str]) -> None:
    admin = token_for([ADMIN])
    cases = [({"domains": ["a.example"]}, "name"), ({"name": "  "}, "name"),
             ({"name": "X", "domains": ["not a domain"]}, "domains"),
             ({"name": "X", "domains": "a.example"}, "domains"),
             ({"name": "X", "crm_account_id": 7}, "crm_account_id"), ([1, 2], "body")]
    for body, field in cases:
        response = _put(api, admin, "x", body)
        assert response.status_code == 400, body
        assert response.mimetype == "application/problem+json"
        assert field in response.get_json()["errors"], (body, response.get_json())
    bad_id = _put(api, admin, "Not Valid!", {"name": "X"})
    assert bad_id.status_code == 400 and "id" in bad_id.get_json()["errors"]
    read = token_for([PROFILES_READ])
    assert "limit" in api.get("/v1/organisations", read, limit=0).get_json()["errors"]


def test_a_domain_held_by_another_registered_organisation_is_a_409(
        api: Api, token_for: Callable[..., str]) -> None:
    admin = token_for([ADMIN])
    assert _put(api, admin, "one", {"name": "One", "domains": ["one.example"],
                                    "crm_account_id": "A1"}).status_code == 201
    taken = _put(api, admin, "two", {"name": "Two", "domains": ["one.example"]})
    assert taken.status_code == 409 and "domains" in taken.get_json()["errors"]
    crm = _put(api, admin, "two", {"name": "Two", "crm_account_id": "A1"})
    assert crm.status_code == 409 and "crm_account_id" in crm.get_json()["errors"]


def test_external_and_partner_clients_get_403_and_nothing_else(
        api: Api, token_for: Callable[..., str]) -> None:
    paths = ["/v1/organisations", "/v1/organisations/customer-example",
             "/v1/organisations/customer-example/connections",
             "/v1/organisations/customer-example/topics"]
    for audience in ("external", "partner"):
        token = token_for([PROFILES_READ, ADMIN, EXPERTS_READ], audience)
        for path in paths:
            response = api.get(path, token)
            text = response.get_data(as_text=True)
            assert response.status_code == 403, path
            assert "customer" not in text.lower() and MARKER not in text
        put = _put(api, token, "customer-example", {"name": "Mine"})
        assert put.status_code == 403
