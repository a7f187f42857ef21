"""Public badges: external audience only, cacheable, rate limited per IP, safe to inline."""

from __future__ import annotations

from collections.abc import Callable
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from sqlalchemy import update

from service.api.scopes import PROFILES_READ
from service.store.schema import people
from tests.api.conftest import HOSTILE_SHOWN, MARKER, Api, PublicPeople

LEVELS = ["contributor", "expert", "authority"]


def _profile(api: Api, audience: str) -> dict:  # type: ignore[type-arg]
    token = api.token([PROFILES_READ], audience)
    return api.get("/v1/people", token, email="dana@corp.example").get_json()  # type: ignore[no-any-return]


def _strongest(profile: dict) -> dict:  # type: ignore[type-arg]
    return max(profile["topics"], key=lambda t: (LEVELS.index(t["level"]), t["score"]))  # type: ignore[no-any-return]


def _not_found(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    return str(response.get_json()["detail"])


def test_the_badge_shows_the_public_score_and_nothing_internal(
        api: Api, public_people: PublicPeople) -> None:
    public, internal = _strongest(_profile(api, "external")), _strongest(_profile(api, "internal"))
    assert internal["score"] - public["score"] > 1  # the internal blog post counts inside only
    dana = public_people.dana
    body = api.client.get(f"/v1/badges/{dana}.json").get_json()
    level, score = body["message"].split(" · ")
    assert body["label"] == "whoknows" and level == public["level"]
    assert abs(float(score) - public["score"]) < 0.06
    svg = api.client.get(f"/v1/badges/{dana}.svg").get_data(as_text=True)
    assert body["message"] in svg and f"{float(score)}" in svg
    paths = [f"/v1/badges/{dana}.svg", f"/v1/badges/{dana}.json",
             "/v1/badges/by-account/forum/dana_f.svg", "/v1/badges/by-account/forum/dana_f.json",
             f"/v1/badges/{dana}.svg?topic=claims-adjudication"]
    for path in paths:
        response = api.client.get(path)
        assert response.status_code == 200, path
        text = response.get_data(as_text=True)
        for secret in (MARKER, "intranet", "adjudication internals", "dana@corp.example"):
            assert secret not in text, (path, secret)


def test_by_account_is_the_same_badge_and_internal_accounts_do_not_resolve(
        api: Api, public_people: PublicPeople) -> None:
    by_id = api.client.get(f"/v1/badges/{public_people.dana}.svg")
    by_account = api.client.get("/v1/badges/by-account/forum/dana_f.svg")
    assert by_account.get_data() == by_id.get_data()
    # dana's and ivan's blog accounts exist, but the blog is internal: the answer is the
    # one an unknown account or source gets, so it tells nothing
    unknown = _not_found(api.client.get("/v1/badges/by-account/forum/nobody.svg"))
    for path in ("/v1/badges/by-account/blog/dana.svg", "/v1/badges/by-account/blog/ivan.json",
                 "/v1/badges/by-account/nosuch/dana.svg"):
        assert _not_found(api.client.get(path)) == unknown


def test_internal_only_and_opted_out_people_have_no_badge(
        api: Api, public_people: PublicPeople) -> None:
    unknown = _not_found(api.client.get("/v1/badges/99999.svg"))
    for person in (public_people.ivan, public_people.olga):
        for suffix in ("svg", "json"):
            assert _not_found(api.client.get(f"/v1/badges/{person}.{suffix}")) == unknown
    assert _not_found(api.client.get("/v1/badges/by-account/forum/olga.svg")) == _not_found(
        api.client.get("/v1/badges/by-account/forum/nobody.svg"))
    # opting out takes effect at once, and opting back in brings the badge back
    with api.services.engine.begin() as conn:
        conn.execute(update(people).where(people.c.id == public_people.olga)
                     .values(opt_out_external=False))
    assert api.client.get(f"/v1/badges/{public_people.olga}.svg").status_code == 200


def test_a_topic_badge_maps_synonyms_and_shows_only_known_expertise(
        api: Api, public_people: PublicPeople) -> None:
    dana = public_people.dana
    body = api.client.get(f"/v1/badges/{dana}.json?topic=claims-adjudication").get_json()
    assert body["label"] == "medical insurance claims"
    # no public expertise there (fraud is ivan's internal topic): a 404, never a badge
    # with the asked words on it
    assert "no public expertise" in _not_found(
        api.client.get(f"/v1/badges/{dana}.svg?topic=fraud"))
    for bad in ("", "!!!", "x" * 101):
        response = api.client.get(f"/v1/badges/{dana}.svg", query_string={"topic": bad})
        assert response.status_code == 400 and response.content_type == "application/problem+json"
        assert list(response.get_json()["errors"]) == ["topic"]
    # parameters of the forum's own (cache busting) change nothing
    assert api.client.get(f"/v1/badges/{dana}.svg?v=2").status_code == 200


def test_a_topic_resolves_by_the_start_of_its_words_or_the_404_lists_public_topics(
        api: Api, public_people: PublicPeople) -> None:
    dana = public_people.dana
    public = [t["topic"] for t in _profile(api, "external")["topics"]]
    assert public == ["claims", "medical insurance claims"]
    for words in ("medical", "insur claims", "Medical Insurance"):
        body = api.client.get(f"/v1/badges/{dana}.json", query_string={"topic": words})
        assert body.status_code == 200, words
        assert body.get_json()["label"] == "medical insurance claims"
    # no public expertise (fraud is ivan's internal topic): the 404 lists dana's public
    # topics, nothing else
    for words in ("kube", "fraud"):
        response = api.client.get(f"/v1/badges/{dana}.svg", query_string={"topic": words})
        assert "no public expertise" in _not_found(response)
        body = response.get_json()
        assert body["topics"] == public and list(body["errors"]) == ["topic"]
        text = response.get_data(as_text=True)
        assert "fraud" not in text and MARKER not in text
    # words that start two topics' words name neither
    response = api.client.get(f"/v1/badges/{dana}.json?topic=cl")
    assert "could be several" in _not_found(response)
    assert response.get_json()["topics"] == ["claims", "medical insurance claims"]


def test_badges_are_cacheable_with_an_etag_of_their_content(
        api: Api, public_people: PublicPeople) -> None:
    from service.connectors.base import Page
    from service.pipeline import ingest_pages
    from tests.records import author, record

    path = f"/v1/badges/{public_people.dana}.svg"
    first = api.client.get(path)
    assert first.headers["Cache-Control"] == "public, max-age=300"
    etag = first.headers["ETag"]
    again = api.client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == etag
    other = api.client.get(path + "?topic=claims", headers={"If-None-Match": etag})
    assert other.status_code == 200
    # new public work changes the badge, so the old copy is stale
    ingest_pages(api.services, "forum", [Page([
        record("q20", "cust2", kind="question", tags=["claims"], day=20),
        record("a20", "dana_f", email="dana@corp.example", thread="q20", accepted=True,
               tags=["claims"], likes=3, liked_by=[author("cust2")], day=20)],
        cursor=None)], full_pass=False)
    changed = api.client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_the_json_badge_is_a_shields_endpoint_readable_from_any_origin(
        api: Api, public_people: PublicPeople) -> None:
    response = api.client.get(f"/v1/badges/{public_people.dana}.json",
                              headers={"Origin": "https://img.shields.io"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.get_json()
    assert body["schemaVersion"] == 1 and body["color"] == "brightgreen"
    assert body["cacheSeconds"] >= 300  # shields.io's minimum


def _elements(svg: str) -> list[Element]:
    return list(SafeET.fromstring(svg).iter())


def test_a_hostile_display_name_is_inert_text_in_the_svg(
        api: Api, public_people: PublicPeople) -> None:
    response = api.client.get(f"/v1/badges/{public_people.eve}.svg")
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    elements = _elements(response.get_data(as_text=True))
    names = {element.tag.rpartition("}")[2] for element in elements}
    assert not names & {"script", "foreignObject", "img", "a", "iframe"}
    assert not [name for element in elements for name in element.attrib
                if name.rpartition("}")[2].lower().startswith("on")]
    title = next(e for e in elements if e.tag.endswith("}title"))
    assert title.text is not None
    assert title.text.startswith(HOSTILE_SHOWN + ": expert in data privacy gdpr")


def test_badges_are_rate_limited_per_client_address(
        make_api: Callable[..., Api], public_people: PublicPeople) -> None:
    limited = make_api(badge_rate_limit_per_minute=3)
    path = f"/v1/badges/{public_people.dana}.svg"
    one = {"REMOTE_ADDR": "203.0.113.5"}
    for _ in range(3):
        assert limited.client.get(path, environ_base=one).status_code == 200
    blocked = limited.client.get(path, environ_base=one)
    assert blocked.status_code == 429 and blocked.content_type == "application/problem+json"
    assert int(blocked.headers["Retry-After"]) >= 1
    # the card and oEmbed draw on the same budget; a forged X-Forwarded-For buys nothing
    assert limited.client.get(f"/v1/embed/{public_people.dana}",
                              environ_base=one).status_code == 429
    assert limited.client.get(path, environ_base=one,
                              headers={"X-Forwarded-For": "192.0.2.99"}).status_code == 429
    other = limited.client.get(path, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(
        make_api: Callable[..., Api], public_people: PublicPeople) -> None:
    proxied = make_api(badge_rate_limit_per_minute=2, trusted_proxies=1)
    path = f"/v1/badges/{public_people.dana}.json"
    proxy = {"REMOTE_ADDR": "10.0.0.1"}

    def via_proxy(client_ip: str) -> int:
        return int(proxied.client.get(path, environ_base=proxy,
                                      headers={"X-Forwarded-For": client_ip}).status_code)

    assert [via_proxy("203.0.113.5") for _ in range(3)] == [200, 200, 429]
    assert via_proxy("198.51.100.7") == 200
