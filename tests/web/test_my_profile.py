""""My profile": an employee claims an external account with a one-time code in its
profile text, read by the next sync; never on the word alone, a code works once and
expires, nobody acts on another's claim, and a contested account goes to the queue."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest

from service import pipeline
from service.api import create_app
from service.config import WebConfig, load_config
from service.connectors.base import Page
from service.model import AuthorRecord
from service.store import audit as store_audit
from service.store import people as store_people
from service.store import suggestions as store_suggestions
from tests.conftest import CONFIG, NOW
from tests.oidc.harness import OidcClient, OidcProvider
from tests.records import record
from tests.web.conftest import serve
from tests.web.test_a11y import audit, axe_script, describe  # noqa: F401 - a fixture
from tests.web.test_signin import CLIENT_ID, CLIENT_SECRET, SECRETS, _Deferred

PRIYA = "priya@corp.example"


@dataclasses.dataclass
class Site:
    url: str
    app: Any
    services: pipeline.Services
    clock: list[Any]

    def person(self, source: str, account: str) -> int | None:
        with self.services.engine.connect() as conn:
            identity = store_people.find_identity(conn, source, account)
            return store_people.person_of(conn, identity) if identity else None

    def sync(self, source: str, account: str, bio: str, n: int) -> None:
        """The next sync of the forum: the account's post, and its profile text."""
        post = record(f"{source}-{account}-{n}", account, name="P.N.", text="fraud tips",
                      day=n)
        post.author = AuthorRecord(account, account, "P.N.", bio=bio)
        pipeline.ingest_pages(self.services, source, [Page([post], cursor=None)],
                              full_pass=False)

    def client(self, sub: str, email: str | None) -> Any:
        client = self.app.test_client()
        with client.session_transaction() as session:
            session["user"] = {"sub": sub, "name": sub, **({"email": email} if email else {})}
        return client


@contextlib.contextmanager
def open_site(tmp_path: Path, **config: Any) -> Iterator[Site]:
    """The page served on a free port, signing in at a local OpenID Connect provider,
    with `config` replacing parts of the configuration (e.g. `smtp`)."""
    path = tmp_path / "whoknows.toml"
    path.write_text(CONFIG.format(db=tmp_path / "whoknows.db"))
    clock = [NOW]
    services = pipeline.open_services(load_config(path, environ={}), clock=lambda: clock[0])
    for source, account, email in (("blog", "priya", PRIYA), ("blog", "bob", "bob@corp.example")):
        pipeline.ingest_pages(services, source, [Page([record(
            f"b-{account}", account, kind="blog_post", email=email, tags=["fraud"])],
            cursor=None)], full_pass=False)
    deferred = _Deferred()
    with serve(deferred) as url:
        client = OidcClient(CLIENT_ID, CLIENT_SECRET, grant_types=("authorization_code",),
                            redirect_uris=(f"{url}/signin/callback",))
        with OidcProvider(clients=(client,)) as provider:
            web = WebConfig(oidc_metadata_url=provider.discovery_url, client_id=CLIENT_ID,
                            client_secret_env="WEB_CLIENT_SECRET", scopes="openid email",
                            session_secret_env="WEB_SESSION_SECRET", secure_cookies=False)
            app = create_app({"SERVICES": dataclasses.replace(services, config=msgspec.structs
                              .replace(services.config, web_secrets=SECRETS, web=web,
                                       **config))})
            deferred.app = app
            site = Site(url, app, services, clock)
            site.sync("forum", "pn_forum", "", 0)
            yield site
    services.engine.dispose()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with open_site(tmp_path) as site:
        yield site


def sign_in(page: Any, site: Site, path: str) -> None:
    """Open `path` in the browser and sign in as Priya at the provider."""
    page.goto(f"{site.url}{path}")
    page.locator("input[name=login]").fill(PRIYA)
    page.locator("input[name=password]").fill("any")
    page.locator("button[type=submit]").click()
    page.locator("button[type=submit]", has_text="Continue").click()  # consent


def _claim(client: Any, source: str, account: str) -> str:
    page = client.get("/me").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token, page
    answer = client.post("/me/claims", data={"csrf": token[1], "source": source,
                                             "account": account})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return token[1]


def _codes(client: Any) -> list[str]:
    return re.findall(r'<code class="claim-code">([^<]+)</code>',
                      client.get("/me").get_data(as_text=True))


def test_a_code_in_the_profile_text_links_the_account_at_the_next_sync(site: Site) -> None:
    priya = site.client("sub-priya", PRIYA)
    token = _claim(priya, "forum", "pn_forum")
    [code] = _codes(priya)
    assert site.person("forum", "pn_forum") != site.person("blog", "priya")
    [claim_id] = re.findall(r"/me/claims/(\d+)/check", priya.get("/me").get_data(as_text=True))
    waiting = priya.post(f"/me/claims/{claim_id}/check", data={"csrf": token})
    assert "done=waiting" in waiting.location  # on the word alone: nothing
    assert site.person("forum", "pn_forum") != site.person("blog", "priya")

    site.sync("forum", "pn_forum", f"Claims team. {code}", 1)
    person = site.person("blog", "priya")
    assert site.person("forum", "pn_forum") == person
    with site.services.engine.connect() as conn:
        [entry] = [e for e in store_audit.entries(conn, person) if e.method == "self-claim"]
    assert entry.action == "merge" and entry.actor == "self:sub-priya"
    page = priya.get("/me").get_data(as_text=True)
    assert "forum: pn_forum" in page and "verified" in page
    # as each audience sees it: the profile inside, the public card and badge outside
    for link in (f"/people/{person}", f"/v1/embed/{person}", f"/v1/badges/{person}.svg"):
        assert f'href="{link}"' in page
    card = priya.get(f"/v1/embed/{person}").get_data(as_text=True)
    assert "fraud" in card and "b-priya" not in card

    # the code works once: bob claiming the same account gets no link from it
    bob = site.client("sub-bob", "bob@corp.example")
    _claim(bob, "forum", "pn_forum")
    site.sync("forum", "pn_forum", f"Claims team. {code}", 2)
    assert site.person("forum", "pn_forum") == person
    assert "Someone else claims it too" in bob.get("/me").get_data(as_text=True)
    with site.services.engine.connect() as conn:
        queued = store_suggestions.list_suggestions(conn)
    assert any(r["code"] == "claim_conflict" for s in queued for r in s.reasons)


def test_an_expired_claim_links_nothing(site: Site) -> None:
    priya = site.client("sub-priya", PRIYA)
    _claim(priya, "forum", "pn_forum")
    [code] = _codes(priya)
    site.clock[0] = NOW + timedelta(hours=49)
    site.sync("forum", "pn_forum", code, 1)
    assert site.person("forum", "pn_forum") != site.person("blog", "priya")
    assert "expired" in priya.get("/me").get_data(as_text=True)


def test_nobody_acts_on_someone_elses_claim(site: Site) -> None:
    priya = site.client("sub-priya", PRIYA)
    _claim(priya, "forum", "pn_forum")
    [claim_id] = re.findall(r"/me/claims/(\d+)/check", priya.get("/me").get_data(as_text=True))
    bob = site.client("sub-bob", "bob@corp.example")
    bob_page = bob.get("/me").get_data(as_text=True)
    assert "pn_forum" not in bob_page and _codes(bob) == []
    token = re.search(r'name="csrf" value="([^"]+)"', bob_page)
    assert token
    assert bob.post(f"/me/claims/{claim_id}/check", data={"csrf": token[1]}).status_code == 404
    assert site.client("sub-x", None).get("/me").status_code == 403
    stranger = site.app.test_client().get("/me")
    assert stranger.status_code == 302 and urlsplit(stranger.location).path == "/signin"
    bad = priya.post("/me/claims", data={"csrf": "forged", "source": "forum",
                                         "account": "pn_forum"})
    assert bad.status_code == 400
    page = priya.get("/me").get_data(as_text=True)
    ok = re.search(r'name="csrf" value="([^"]+)"', page)
    assert ok
    internal = priya.post("/me/claims", data={"csrf": ok[1], "source": "blog",
                                              "account": "bob"})
    assert internal.status_code == 400 and "source" in internal.get_data(as_text=True)
    unknown = priya.post("/me/claims", data={"csrf": ok[1], "source": "forum",
                                             "account": "nobody"})
    assert unknown.status_code == 400 and "account" in unknown.get_data(as_text=True)


def test_signed_in_in_the_browser_my_profile_is_axe_clean(browser: Any, site: Site,
                                                         axe_script: Path) -> None:  # noqa: F811
    context = browser.new_context(bypass_csp=True)  # lets the test inject axe
    page = context.new_page()
    sign_in(page, site, "/me")
    page.wait_for_selector("#claim-heading")
    page.get_by_label("Username there").fill("pn_forum")
    page.select_option("#claim-source", "forum")
    page.get_by_role("button", name="Claim").click()
    page.wait_for_selector(".claim-code")
    assert page.get_by_role("link", name="My profile").count() == 1
    violations = audit(page, axe_script)
    assert violations == [], describe(violations)
    context.close()


def test_a_claim_is_verified_from_the_local_discourse_forum_on_check_now(
        tmp_path: Path) -> None:
    """The forum's own profile page (/u/<name>.json) holds the code: "Check now" syncs
    the Discourse source, the connector reads the profiles claims wait on, and the
    account is linked."""
    from service.connectors import build_connector
    from tests.connectors.discourse_server import DiscourseServer

    with DiscourseServer() as forum:
        config = tmp_path / "whoknows.toml"
        config.write_text(CONFIG.format(db=tmp_path / "whoknows.db") + (
            f'\n[[sources]]\nid = "community"\nkind = "discourse"\naudience = "external"\n'
            f'url = "{forum.base}"\n'))
        services = pipeline.open_services(load_config(config, environ={}), clock=lambda: NOW)
        pipeline.ingest_pages(services, "blog", [Page([record(
            "b-1", "priya", kind="blog_post", email=PRIYA, tags=["claims"])], cursor=None)],
            full_pass=False)
        pipeline.sync_source(services, "community", lambda s: build_connector(s, None))
        app = create_app({"SERVICES": dataclasses.replace(services, config=msgspec.structs
                          .replace(services.config, web_secrets=SECRETS, web=WebConfig(
                              oidc_metadata_url="http://127.0.0.1:9/none", client_id="x",
                              session_secret_env="WEB_SESSION_SECRET")))})
        site = Site("", app, services, [NOW])
        priya = site.client("sub-priya", PRIYA)
        token = _claim(priya, "community", "priya.raman")
        [code] = _codes(priya)
        [claim_id] = re.findall(r"/me/claims/(\d+)/check",
                                priya.get("/me").get_data(as_text=True))
        assert "waiting" in priya.post(f"/me/claims/{claim_id}/check",
                                       data={"csrf": token}).location
        forum.profiles["priya.raman"] = {"bio_raw": f"Claims adjuster. {code}"}
        checked = priya.post(f"/me/claims/{claim_id}/check", data={"csrf": token})
        assert "done=verified" in checked.location
        assert forum.count("/u/priya.raman.json") == 2
        assert site.person("community", "priya.raman") == site.person("blog", "priya")
        services.engine.dispose()
