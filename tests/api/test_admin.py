"""Admin endpoints: sources, sync, manual links, erasure that sticks."""

from __future__ import annotations

from service.api.scopes import ADMIN, CONTRIBUTIONS_WRITE, EXPERTS_READ, PROFILES_READ
from tests.api.conftest import Api


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _person(api: Api, email: str) -> int:
    body = api.get("/v1/people", api.token([PROFILES_READ]), email=email).get_json()
    return int(body["id"])


def test_sources_list_their_state(api: Api) -> None:
    body = api.get("/v1/sources", api.token([ADMIN])).get_json()
    forum = next(s for s in body["items"] if s["id"] == "forum")
    assert forum["contributions"] == 8 and forum["audience"] == "external"


def test_sync_explains_what_cannot_be_pulled(api: Api) -> None:
    token = api.token([ADMIN])
    assert api.client.post("/v1/sources/forum/sync", headers=_auth(token)).status_code == 409
    assert api.client.post("/v1/sources/nowhere/sync", headers=_auth(token)).status_code == 404


def test_unlink_then_link_back(api: Api) -> None:
    token = api.token([ADMIN])
    dana = _person(api, "dana@corp.example")
    profile = api.get(f"/v1/people/{dana}", api.token([PROFILES_READ])).get_json()
    assert profile["totals"] == {"external": 1, "internal": 1}
    from service.store.people import find_identity

    with api.services.engine.connect() as conn:
        forum_account = find_identity(conn, "forum", "dana_f")
    response = api.client.delete(f"/v1/people/{dana}/links/{forum_account}",
                                 headers=_auth(token))
    assert response.status_code == 204
    after = api.get(f"/v1/people/{dana}", api.token([PROFILES_READ])).get_json()
    assert after["totals"] == {"internal": 1}
    relinked = api.client.post(f"/v1/people/{dana}/links", headers=_auth(token),
                               json={"identity": {"source": "forum", "account": "dana_f"}})
    assert relinked.status_code == 201
    merged = api.get(f"/v1/people/{dana}", api.token([PROFILES_READ])).get_json()
    assert merged["totals"] == {"external": 1, "internal": 1}
    bad = api.client.post(f"/v1/people/{dana}/links", headers=_auth(token), json={})
    assert bad.status_code == 400 and "identity" in bad.get_json()["errors"]


def test_erasure_removes_the_person_and_a_resync_does_not_bring_them_back(api: Api) -> None:
    token = api.token([ADMIN])
    dana = _person(api, "dana@corp.example")
    assert api.client.delete(f"/v1/people/{dana}", headers=_auth(token)).status_code == 204
    reader = api.token([EXPERTS_READ, PROFILES_READ])
    assert "Dana" not in api.get("/v1/experts", reader, q="claims").get_data(as_text=True)
    assert api.get("/v1/people", reader, email="dana@corp.example").status_code == 404
    again = api.client.post("/v1/contributions", headers=_auth(api.token([CONTRIBUTIONS_WRITE])),
                            json={"source": "forum", "records": [{
                                "id": "a1", "kind": "answer", "created": "2026-10-01T09:00:00Z",
                                "author": {"id": "dana_f", "email": "dana@corp.example"},
                                "text": "claims again"}]})
    assert again.get_json()["results"][0]["status"] == "suppressed"
    assert "Dana" not in api.get("/v1/experts", reader, q="claims").get_data(as_text=True)
    assert api.client.delete(f"/v1/people/{dana}", headers=_auth(token)).status_code == 404


def test_admin_answers_only_internal_clients(api: Api, config_file) -> None:  # type: ignore[no-untyped-def]
    """Admin answers carry internal sources' states and errors: a client of another
    audience holding the admin scope gets 403, and the CLI refuses to create one."""
    from click.testing import CliRunner

    from service.cli import cli
    from service.store import sync as store_sync

    with api.services.engine.begin() as conn:
        store_sync.finish_run(conn, "blog", "HTTP 500 from https://intranet.example/feed")
    for audience in ("external", "partner"):
        response = api.get("/v1/sources", api.token([ADMIN], audience))
        assert response.status_code == 403
        assert "intranet.example" not in response.get_data(as_text=True)
    internal = api.get("/v1/sources", api.token([ADMIN])).get_json()
    (blog,) = [s for s in internal["items"] if s["id"] == "blog"]
    assert blog["last_error"] == "HTTP 500 from https://intranet.example/feed"
    refused = CliRunner().invoke(cli, ["--config", str(config_file), "clients", "create",
                                       "portal-admin", "--scope", "admin",
                                       "--audience", "external"])
    assert refused.exit_code == 2 and "internal" in refused.output
