"""Sign-in to the intranet page through a real OpenID Connect provider (tests/oidc):
authorization code with PKCE S256 in a real browser; nothing shows before sign-in."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest

from service import pipeline
from service.api import create_app
from service.config import ConfigError, WebConfig
from service.demo.generator import MARKER, DemoData
from tests.oidc.harness import OidcClient, OidcProvider
from tests.web.conftest import serve

CLIENT_ID, CLIENT_SECRET = "whoknows-web", "web-client-secret"
SECRETS = {"client_secret": CLIENT_SECRET, "session_secret": "s" * 32}


class _Deferred:
    """A WSGI app set after the server is listening (the provider needs its URL first)."""

    app: Callable[..., Any] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


def _signed_in_services(services: pipeline.Services, provider: OidcProvider,
                        **web: Any) -> pipeline.Services:
    config = msgspec.structs.replace(
        services.config, web_secrets=SECRETS,
        web=WebConfig(oidc_metadata_url=provider.discovery_url, client_id=CLIENT_ID,
                      client_secret_env="WEB_CLIENT_SECRET", scopes="openid",
                      session_secret_env="WEB_SESSION_SECRET", **web))
    return dataclasses.replace(services, config=config)


@pytest.fixture(scope="module")
def signin_site(demo_services: tuple[pipeline.Services, DemoData]
                ) -> Iterator[tuple[str, Any]]:
    deferred = _Deferred()
    with serve(deferred) as url:
        client = OidcClient(CLIENT_ID, CLIENT_SECRET, grant_types=("authorization_code",),
                            redirect_uris=(f"{url}/signin/callback",))
        with OidcProvider(clients=(client,)) as provider:
            app = create_app({"SERVICES": _signed_in_services(demo_services[0], provider)})
            deferred.app = app
            yield url, app


def test_a_visitor_is_sent_to_sign_in_and_sees_nothing_before(signin_site: tuple[str, Any]
                                                              ) -> None:
    _, app = signin_site
    client = app.test_client()
    expert = "Samuel Mensah"  # the demo's planted claims expert, internal blogger
    for path in ("/?q=medical+insurance+claims", "/people/1", "/?q=claims&community=internal"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert urlsplit(response.location).path == "/signin"
        body = response.get_data(as_text=True)  # the redirect quotes only the asked path
        assert MARKER not in body and expert not in body and "intranet" not in body


def test_the_connection_map_needs_sign_in_too(signin_site: tuple[str, Any]) -> None:
    _, app = signin_site
    client = app.test_client()
    for path in ("/map", "/map?topic=medical+insurance+claims&since=2026-01-01"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert urlsplit(response.location).path == "/signin"
        assert parse_qs(urlsplit(response.location).query)["next"] == [path]
        body = response.get_data(as_text=True)
        assert "Samuel Mensah" not in body and "Bridges" not in body and "<svg" not in body


def test_sign_in_asks_the_provider_for_a_code_with_pkce_s256(signin_site: tuple[str, Any]
                                                             ) -> None:
    _, app = signin_site
    client = app.test_client()
    response = client.get("/signin?next=/people/1")
    query = parse_qs(urlsplit(response.location).query)
    assert response.status_code == 302
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43 and query["state"] and query["nonce"]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_sign_in_does_not_return_to_another_site(signin_site: tuple[str, Any]) -> None:
    _, app = signin_site
    client = app.test_client()
    client.get("/signin?next=//evil.example/x")
    with client.session_transaction() as session:
        assert session["next"] == "/"


def test_a_forged_callback_is_refused(signin_site: tuple[str, Any]) -> None:
    _, app = signin_site
    response = app.test_client().get("/signin/callback?code=abc&state=forged")
    assert response.status_code == 400
    assert "Sign-in did not complete" in response.get_data(as_text=True)


def test_signing_in_in_the_browser_returns_to_the_search(browser: Any,
                                                         signin_site: tuple[str, Any]) -> None:
    url, _ = signin_site
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{url}/?q=medical+insurance+claims")
    page.locator("input[name=login]").fill("dana")
    page.locator("input[name=password]").fill("any")
    page.locator("button[type=submit]").click()
    page.locator("button[type=submit]", has_text="Continue").click()  # consent
    page.wait_for_selector("#results .card")
    assert urlsplit(page.url).path == "/" and "q=medical" in page.url
    assert "Signed in as dana" in page.locator("header").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("text=You are signed out")
    # our session is gone (the provider's own single sign-on session may remain)
    response = context.request.get(f"{url}/people/1", max_redirects=0)
    assert response.status == 302 and urlsplit(response.headers["location"]).path == "/signin"
    context.close()


def test_a_configured_provider_without_its_session_key_stops_the_app(
    demo_services: tuple[pipeline.Services, DemoData],
) -> None:
    services = demo_services[0]
    config = msgspec.structs.replace(services.config, web_secrets={}, web=WebConfig(
        oidc_metadata_url="https://idp.example/.well-known/openid-configuration",
        client_id="x", session_secret_env="WEB_SESSION_SECRET"))
    with pytest.raises(ConfigError, match="web.session_secret_env"):
        create_app({"SERVICES": dataclasses.replace(services, config=config)})
