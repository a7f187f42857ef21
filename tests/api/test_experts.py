"""GET /v1/experts: ranking, validation, paging, and the audience wall."""

from __future__ import annotations

from service.api.scopes import EXPERTS_READ
from tests.api.conftest import MARKER, Api


def test_experts_rank_people_with_evidence(api: Api) -> None:
    token = api.token([EXPERTS_READ])
    body = api.get("/v1/experts", token, q="medical insurance claims", explain="true").get_json()
    top = body["hits"][0]
    assert top["display_name"] == "Dana"
    assert top["evidence"] and "explain" in top
    assert "medical insurance claims" in body["query_topics"]
    # the score is the sum of the signals' points, each named with its value and weight
    signals = top["explain"]["signals"]
    assert signals[0]["name"] == "text"
    assert signals[0]["value"] == top["explain"]["relevance"]
    assert abs(sum(s["points"] for s in signals) - top["score"]) < 1e-3
    plain = api.get("/v1/experts", token, q="medical insurance claims").get_json()["hits"][0]
    assert "explain" not in plain and "signals" not in plain


def test_bad_parameters_are_400_naming_the_field(api: Api) -> None:
    token = api.token([EXPERTS_READ])
    for params, field in (({}, "q"), ({"q": "x", "limit": "500"}, "limit"),
                          ({"q": "x", "since": "yesterday"}, "since"),
                          ({"q": "x", "cursor": "bogus"}, "cursor"),
                          ({"q": "?!"}, "q")):
        response = api.get("/v1/experts", token, **params)
        assert response.status_code == 400, params
        assert response.mimetype == "application/problem+json"
        assert field in response.get_json()["errors"], params


def test_paging_with_cursors_covers_everyone_once(api: Api) -> None:
    token = api.token([EXPERTS_READ])
    seen: list[int] = []
    params: dict[str, object] = {"q": "claims", "limit": 2}
    while True:
        body = api.get("/v1/experts", token, **params).get_json()
        seen += [hit["person_id"] for hit in body["hits"]]
        if not body["next_cursor"]:
            break
        params["cursor"] = body["next_cursor"]
    assert len(seen) == len(set(seen)) == body["total"] >= 5


def test_an_external_client_never_sees_internal_data(api: Api) -> None:
    token = api.token([EXPERTS_READ], "external")
    for q in (MARKER, "claims adjudication internals", "medical insurance claims"):
        params: dict[str, object] = {"q": q, "limit": 1, "explain": "true"}
        for _ in range(10):
            response = api.get("/v1/experts", token, **params)
            text = response.get_data(as_text=True)
            assert MARKER not in text and "intranet.example" not in text
            cursor = response.get_json().get("next_cursor")
            if not cursor:
                break
            params["cursor"] = cursor
    internal = api.get("/v1/experts", api.token([EXPERTS_READ]), q=MARKER)
    assert MARKER in internal.get_data(as_text=True)


def test_a_misspelled_query_answers_with_did_you_mean_in_every_audience(api: Api) -> None:
    for audience in ("internal", "external", "partner"):
        token = api.token([EXPERTS_READ], audience)
        body = api.get("/v1/experts", token, q="medcal insurance claims").get_json()
        assert body["did_you_mean"] == "medical insurance claims", audience
        assert "medical insurance claims" in body["query_topics"]
        assert audience == "internal" or MARKER not in str(body)
        exact = api.get("/v1/experts", token, q="medical insurance claims").get_json()
        assert exact["did_you_mean"] is None
