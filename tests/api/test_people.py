"""People and topics endpoints, for internal and external callers."""

from __future__ import annotations

from service.api.scopes import EXPERTS_READ, PROFILES_READ
from tests.api.conftest import MARKER, Api


def _dana(api: Api, token: str) -> dict:  # type: ignore[type-arg]
    response = api.get("/v1/people", token, email="dana@corp.example")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def test_lookup_by_email_gives_the_merged_profile(api: Api) -> None:
    token = api.token([PROFILES_READ])
    dana = _dana(api, token)
    assert dana["totals"] == {"external": 1, "internal": 1}
    assert any(t["topic"] == "medical insurance claims" for t in dana["topics"])
    again = api.get(f"/v1/people/{dana['id']}", token).get_json()
    assert again == dana


def test_an_external_caller_sees_only_the_public_side(api: Api) -> None:
    internal = _dana(api, api.token([PROFILES_READ]))
    token = api.token([PROFILES_READ], "external")
    dana = _dana(api, token)
    assert dana["totals"] == {"external": 1}
    assert dana["email"] is None and dana["department"] is None
    items = api.get(f"/v1/people/{dana['id']}/contributions", token).get_json()["items"]
    assert {item["audience"] for item in items} == {"external"}
    assert MARKER not in str(items) and MARKER in str(
        api.get(f"/v1/people/{internal['id']}/contributions",
                api.token([PROFILES_READ])).get_json())


def test_unknown_and_invisible_people_are_404(api: Api) -> None:
    token = api.token([PROFILES_READ])
    assert api.get("/v1/people/99999", token).status_code == 404
    assert api.get("/v1/people", token, email="nobody@corp.example").status_code == 404
    bad = api.get("/v1/people", token, email="not-an-email")
    assert bad.status_code == 400 and "email" in bad.get_json()["errors"]


def test_contributions_page_with_cursors(api: Api) -> None:
    token = api.token([PROFILES_READ])
    dana = _dana(api, token)
    first = api.get(f"/v1/people/{dana['id']}/contributions", token, limit=1).get_json()
    second = api.get(f"/v1/people/{dana['id']}/contributions", token, limit=1,
                     cursor=first["next_cursor"]).get_json()
    assert first["total"] == 2 and second["next_cursor"] is None
    assert first["items"][0]["id"] != second["items"][0]["id"]


def test_topics_have_counts_and_trend(api: Api) -> None:
    body = api.get("/v1/topics", api.token([EXPERTS_READ])).get_json()
    claims = next(t for t in body["items"] if t["topic"] == "medical insurance claims")
    # everyone on it was active in the last 90 days (October), nobody in the 90 before
    assert claims["people"] >= 2 and claims["active_people_90d"] == claims["people"]
    assert claims["trend"] == "rising"


def test_a_bad_contributions_cursor_is_400_naming_it(api: Api) -> None:
    token = api.token([PROFILES_READ])
    dana = _dana(api, token)
    response = api.get(f"/v1/people/{dana['id']}/contributions", token, cursor="bogus")
    assert response.status_code == 400 and "cursor" in response.get_json()["errors"]


def test_every_cursor_handed_out_loads_up_to_the_last_reachable_page(api: Api) -> None:
    """A prolific author: paging stops at the deepest offset a cursor may carry, instead of
    handing out a cursor the next request would refuse."""
    from service import pipeline
    from service.connectors.base import Page
    from tests.records import record

    pipeline.ingest_pages(api.services, "forum", [Page(
        [record(f"p{n}", "prolific", kind="reply", email="prolific@customer.example")
         for n in range(1150)], cursor=None)], full_pass=False)
    token = api.token([PROFILES_READ])
    person = api.get("/v1/people", token, email="prolific@customer.example").get_json()["id"]
    cursor, seen = None, 0
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/v1/people/{person}/contributions", token, **params)
        assert page.status_code == 200, page.get_data(as_text=True)
        body = page.get_json()
        seen += len(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert body["total"] == 1150 and seen == 1100  # offsets 0..1000, 100 each
