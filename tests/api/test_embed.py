"""The embeddable card and its oEmbed answer: public expertise only, frameable by any
site, no script, every name inert."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import defusedxml.ElementTree as SafeET
import pytest

from service.config import ConfigError, load_config
from tests.api.conftest import HOSTILE_SHOWN, MARKER, Api, PublicPeople


class _Page(HTMLParser):
    """The elements (tag, attributes) and the text inside each tag of an HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, list[str]] = {}
        self._open: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in ("img", "link", "meta"):
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self.text.setdefault(self._open[-1], []).append(data.strip())

    def attrs(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]


def _inert(page: _Page) -> None:
    assert not page.attrs("script") and not page.attrs("iframe") and not page.attrs("object")
    assert not [name for _, attrs in page.elements for name in attrs if name.startswith("on")]


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_the_card_shows_public_expertise_in_a_page_any_site_may_frame(
        api: Api, public_people: PublicPeople) -> None:
    response = api.client.get(f"/v1/embed/{public_people.dana}")
    assert response.status_code == 200 and response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors *" in csp and "X-Frame-Options" not in response.headers
    assert "script-src" not in csp and "default-src 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = response.get_data(as_text=True)
    for secret in (MARKER, "intranet", "adjudication internals", "dana@corp.example"):
        assert secret not in html
    page = _Page(html)
    _inert(page)
    assert page.text["h1"] == ["Dana"]
    assert "medical insurance claims" in page.text["span"]
    # the inline style is the one the CSP allows by its hash
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    # the badge comes from whoknows itself (the CSP allows no other origin)
    [badge] = page.attrs("img")
    assert str(badge["src"]).startswith("/v1/badges/")
    assert api.client.get(str(badge["src"])).mimetype == "image/svg+xml"


def test_the_card_announces_its_oembed_answer(api: Api, public_people: PublicPeople) -> None:
    card = f"http://localhost/v1/embed/{public_people.dana}"
    page = _Page(api.client.get(card).get_data(as_text=True))
    [link] = [a for a in page.attrs("link") if a.get("type") == "application/json+oembed"]
    answer = api.client.get(_path(str(link["href"])))
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == "*"
    body = answer.get_json()
    assert body["type"] == "rich" and body["version"] == "1.0"
    assert body["provider_name"] == "whoknows" and body["cache_age"] > 0
    [frame] = _Page(body["html"]).attrs("iframe")
    assert frame["src"] == card
    assert (frame["width"], frame["height"]) == (str(body["width"]), str(body["height"]))
    assert MARKER not in answer.get_data(as_text=True)
    small = api.client.get("/v1/oembed", query_string={
        "url": card, "maxwidth": 200, "maxheight": 100}).get_json()
    assert (small["width"], small["height"]) == (200, 100)


def test_by_account_cards_resolve_external_accounts_only(
        api: Api, public_people: PublicPeople) -> None:
    card = api.client.get("/v1/embed/by-account/forum/dana_f")
    assert card.status_code == 200 and "Dana" in card.get_data(as_text=True)
    oembed = api.client.get("/v1/oembed", query_string={
        "url": "http://localhost/v1/embed/by-account/forum/dana_f"})
    assert oembed.status_code == 200
    unknown = api.client.get("/v1/embed/by-account/forum/nobody").get_json()["detail"]
    assert api.client.get("/v1/embed/by-account/blog/ivan").get_json()["detail"] == unknown
    assert api.client.get("/v1/oembed", query_string={
        "url": "http://localhost/v1/embed/by-account/blog/ivan"}).status_code == 404


def test_no_card_for_internal_only_opted_out_or_unknown_people(
        api: Api, public_people: PublicPeople) -> None:
    for person in (public_people.ivan, public_people.olga, 99999):
        assert api.client.get(f"/v1/embed/{person}").status_code == 404
        answer = api.client.get("/v1/oembed",
                                query_string={"url": f"http://localhost/v1/embed/{person}"})
        assert answer.status_code == 404 and answer.content_type == "application/problem+json"
    for url in ("https://evil.example/v1/embed/1", "http://localhost/v1/badges/1.svg",
                "http://localhost/v1/embed/99999999999999", "http://localhost/elsewhere"):
        assert api.client.get("/v1/oembed", query_string={"url": url}).status_code == 404


def test_oembed_parameters_are_validated(api: Api, public_people: PublicPeople) -> None:
    card = f"http://localhost/v1/embed/{public_people.dana}"
    for params, field in (({}, "url"), ({"url": "not a url"}, "url"),
                          ({"url": "javascript:alert(1)"}, "url"),
                          ({"url": card, "maxwidth": "0"}, "maxwidth"),
                          ({"url": card, "maxheight": "tall"}, "maxheight"),
                          ({"url": card, "format": "yaml"}, "format")):
        response = api.client.get("/v1/oembed", query_string=params)
        assert response.status_code == 400, params
        assert list(response.get_json()["errors"]) == [field]



def test_oembed_answers_in_xml_too(api: Api, public_people: PublicPeople) -> None:
    card = f"http://localhost/v1/embed/{public_people.eve}"
    json_answer = api.client.get("/v1/oembed", query_string={"url": card}).get_json()
    response = api.client.get("/v1/oembed", query_string={"url": card, "format": "xml"})
    assert response.status_code == 200 and response.mimetype == "text/xml"
    root = SafeET.fromstring(response.get_data())
    assert root.tag == "oembed"
    # the same answer, the hostile name's iframe html carried as text
    assert {child.tag: child.text for child in root} == {
        key: str(value) for key, value in json_answer.items()}


def test_a_hostile_display_name_is_inert_in_the_card_and_the_oembed_html(
        api: Api, public_people: PublicPeople) -> None:
    card = f"http://localhost/v1/embed/{public_people.eve}"
    page = _Page(api.client.get(card).get_data(as_text=True))
    _inert(page)
    assert page.text["h1"] == [HOSTILE_SHOWN]
    assert len(page.attrs("img")) == 1  # the badge; the name's <img> stayed text
    body = api.client.get("/v1/oembed", query_string={"url": card}).get_json()
    frame_page = _Page(body["html"])
    assert [tag for tag, _ in frame_page.elements] == ["iframe"]
    assert frame_page.attrs("iframe")[0]["title"] == f"{HOSTILE_SHOWN}: expertise on whoknows"


def test_cards_are_cacheable(api: Api, public_people: PublicPeople) -> None:
    first = api.client.get(f"/v1/embed/{public_people.dana}")
    assert first.headers["Cache-Control"] == "public, max-age=300"
    again = api.client.get(f"/v1/embed/{public_people.dana}",
                           headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_embed_urls_use_the_configured_public_base_url(
        make_api: Callable[..., Api], public_people: PublicPeople) -> None:
    base = "https://whoknows.example.com/people"
    public = make_api(public_base_url=base)
    card = f"{base}/v1/embed/{public_people.dana}"
    page = _Page(public.client.get(f"/v1/embed/{public_people.dana}").get_data(as_text=True))
    [link] = [a for a in page.attrs("link") if a.get("type") == "application/json+oembed"]
    assert str(link["href"]).startswith(f"{base}/v1/oembed?")
    body = public.client.get("/v1/oembed", query_string={"url": card}).get_json()
    assert body["provider_url"] == f"{base}/"
    assert _Page(body["html"]).attrs("iframe")[0]["src"] == card
    # the request's own host is not this whoknows' public address
    assert public.client.get("/v1/oembed", query_string={
        "url": f"http://localhost/v1/embed/{public_people.dana}"}).status_code == 404


def test_a_bad_public_base_url_or_proxy_count_stops_the_start(config_file: Path) -> None:
    for key, value in (("PUBLIC_BASE_URL", "whoknows.example.com"),
                       ("PUBLIC_BASE_URL", "https://whoknows.example.com/?x=1"),
                       ("TRUSTED_PROXIES", "-1")):
        with pytest.raises(ConfigError, match=f"api.{key.lower()}"):
            load_config(config_file, environ={f"WHOKNOWS_API_{key}": value})
