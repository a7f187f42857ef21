"""The identity review on the intranet page, signed in through the real OpenID Connect
provider (tests/oidc) in the real browser: the queue, accept, the profile's identity
history, undo; axe-clean; and nobody but an administrator sees or does any of it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest

from service import pipeline
from service.api import create_app
from service.config import WebConfig, load_config
from service.connectors.base import Page
from service.store import people as store_people
from tests.conftest import CONFIG, NOW
from tests.oidc.harness import OidcClient, OidcProvider
from tests.records import record
from tests.web.conftest import serve
from tests.web.test_a11y import audit, axe_script, describe  # noqa: F401 - a fixture
from tests.web.test_signin import CLIENT_ID, CLIENT_SECRET, SECRETS, _Deferred

ADMIN_SUB = "ada"


@dataclasses.dataclass
class Review:
    url: str
    app: Any
    services: pipeline.Services

    def person(self, source: str, account: str) -> int | None:
        with self.services.engine.connect() as conn:
            identity = store_people.find_identity(conn, source, account)
            return store_people.person_of(conn, identity) if identity else None


def _store(folder: Path) -> pipeline.Services:
    config = folder / "whoknows.toml"
    config.write_text(CONFIG.format(db=folder / "whoknows.db"))
    services = pipeline.open_services(load_config(config, environ={}), clock=lambda: NOW)
    for source, records in (
        ("blog", [record("b1", "priya", kind="blog_post", email="priya@corp.example",
                         name="Priya Natarajan", tags=["fraud"], text="fraud detection")]),
        ("forum", [record("a1", "PriyaN", name="Priya Natarajan", tags=["fraud"],
                          text="fraud detection tips")]),
    ):
        pipeline.ingest_pages(services, source, [Page(records, cursor=None)], full_pass=False)
    return services


@pytest.fixture(scope="module")
def review_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Review]:
    services = _store(tmp_path_factory.mktemp("review"))
    deferred = _Deferred()
    with serve(deferred) as url:
        client = OidcClient(CLIENT_ID, CLIENT_SECRET, grant_types=("authorization_code",),
                            redirect_uris=(f"{url}/signin/callback",))
        with OidcProvider(clients=(client,)) as provider:
            config = msgspec.structs.replace(
                services.config, web_secrets=SECRETS,
                web=WebConfig(oidc_metadata_url=provider.discovery_url, client_id=CLIENT_ID,
                              client_secret_env="WEB_CLIENT_SECRET", scopes="openid",
                              session_secret_env="WEB_SESSION_SECRET",
                              admin_subjects=[ADMIN_SUB], secure_cookies=False))
            app = create_app({"SERVICES": dataclasses.replace(services, config=config)})
            deferred.app = app
            yield Review(url, app, services)
    services.engine.dispose()


def _sign_in(browser: Any, site: Review, login: str, path: str) -> Any:
    context = browser.new_context(bypass_csp=True)  # lets the test inject axe
    page = context.new_page()
    page.goto(site.url + path)
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any")
    page.locator("button[type=submit]").click()
    page.locator("button[type=submit]", has_text="Continue").click()  # consent
    page.wait_for_load_state()
    return page


def _as(site: Review, sub: str) -> Any:
    """A test client whose session holds `sub`, as the sign-in callback leaves it."""
    client = site.app.test_client()
    with client.session_transaction() as session:
        session["user"] = {"sub": sub, "name": sub.title()}
    return client


def test_an_administrator_accepts_then_undoes_from_the_page(
        browser: Any, review_site: Review, axe_script: Path) -> None:  # noqa: F811
    site = review_site
    page = _sign_in(browser, site, ADMIN_SUB, "/admin/identity")
    assert urlsplit(page.url).path == "/admin/identity"
    assert page.get_by_role("link", name="Identity review").count() == 1
    suggestion = page.locator(".suggestion").first
    assert "Priya Natarajan and Priya Natarajan" in suggestion.inner_text()
    assert "on an internal source and on forum" in suggestion.inner_text()
    violations = audit(page, axe_script)
    assert violations == [], describe(violations)
    suggestion.get_by_label("Why (kept in the log)").fill("she told me")
    suggestion.get_by_role("button", name="Accept").click()
    page.wait_for_selector(".notice")
    assert "one person now" in page.locator(".notice").inner_text()
    person = site.person("blog", "priya")
    assert person == site.person("forum", "PriyaN")
    assert "Nothing to review" in page.locator("main").inner_text()

    page.goto(f"{site.url}/people/{person}")
    history = page.locator("section", has=page.locator("#identity-heading"))
    rows = history.locator("tbody tr")
    assert rows.count() == 2
    assert "accept by suggestion" in rows.nth(0).inner_text()
    assert "merge by suggestion" in rows.nth(1).inner_text()
    assert "she told me" in rows.nth(1).inner_text()
    violations = audit(page, axe_script)
    assert violations == [], describe(violations)
    rows.nth(1).get_by_role("button").click()
    page.wait_for_selector("#identity-heading")
    assert site.person("forum", "PriyaN") != site.person("blog", "priya") == person
    rows = page.locator("section", has=page.locator("#identity-heading")).locator("tbody tr")
    assert rows.count() == 3 and "split by undo" in rows.nth(2).inner_text()
    page.context.close()


def test_nobody_else_sees_or_does_the_review(review_site: Review) -> None:
    site = review_site
    employee = _as(site, "bob")
    refused = employee.get("/admin/identity")
    assert refused.status_code == 403 and "Priya" not in refused.get_data(as_text=True)
    for path in ("/admin/identity/suggestions/1", "/admin/identity/audit/1/undo"):
        posted = employee.post(path, data={"action": "accept", "csrf": "x"})
        assert posted.status_code == 403
    person = site.person("blog", "priya")
    profile = employee.get(f"/people/{person}").get_data(as_text=True)
    assert "Identity history" not in profile and "Identity review" not in profile
    stranger = site.app.test_client().get("/admin/identity")
    assert stranger.status_code == 302 and urlsplit(stranger.location).path == "/signin"


def test_a_form_without_the_sessions_token_is_refused(review_site: Review) -> None:
    site = review_site
    admin = _as(site, ADMIN_SUB)
    assert admin.get("/admin/identity").status_code == 200
    forged = admin.post("/admin/identity/audit/1/undo", data={"csrf": "forged"})
    assert forged.status_code == 400 and "csrf" in forged.get_data(as_text=True)
    with admin.session_transaction() as session:
        token = session["csrf"]
    unknown = admin.post("/admin/identity/suggestions/999999",
                         data={"csrf": token, "action": "reject"})
    assert unknown.status_code == 404
    bad = admin.post("/admin/identity/suggestions/1", data={"csrf": token, "action": "maybe"})
    assert bad.status_code == 400 and "action" in bad.get_data(as_text=True)


def test_the_open_demo_page_has_no_review(tmp_path: Path) -> None:
    services = _store(tmp_path)
    client = create_app({"SERVICES": services}).test_client()
    assert client.get("/admin/identity").status_code == 403
    assert "Identity review" not in client.get("/").get_data(as_text=True)
    services.engine.dispose()
