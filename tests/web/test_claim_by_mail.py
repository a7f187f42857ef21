""""My profile": an employee proves a claim by a link e-mailed to the address the
account's platform verified, through a real local SMTP server (aiosmtpd). Opening the
link changes nothing; confirming it links the account at once (search, card, badge,
one audit entry); it works once, expires with the claim, works only in the claimant's
session, and a mail server that is down leaves the claim waiting, with a clear page."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from service import pipeline
from service.api import create_app
from service.config import SmtpConfig, WebConfig, load_config
from service.connectors.base import Page
from service.store import audit as store_audit
from tests.api.conftest import free_port
from tests.conftest import CONFIG, NOW
from tests.records import record
from tests.web.test_a11y import audit, axe_script, describe  # noqa: F401 - a fixture
from tests.web.test_my_profile import Site, open_site, sign_in
from tests.web.test_signin import SECRETS

PRIYA = "priya@corp.example"
FORUM_MAIL = "pn.nair@forum-mail.example"


class Inbox:
    """The aiosmtpd handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@dataclasses.dataclass
class MailSite(Site):
    inbox: Inbox


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, SmtpConfig]]:
    """A real SMTP server on a free port, and the [smtp] section that sends through it."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, SmtpConfig("127.0.0.1", "whoknows@corp.example", port=controller.port,
                                security="none", timeout_seconds=5)
    finally:
        controller.stop()


def _site(tmp_path: Path, smtp: SmtpConfig | None, auth: tuple[str, str] | None = None,
          inbox: Inbox | None = None) -> MailSite:
    config = tmp_path / "whoknows.toml"
    config.write_text(CONFIG.format(db=tmp_path / "whoknows.db"))
    clock = [NOW]
    services = pipeline.open_services(load_config(config, environ={}), clock=lambda: clock[0])
    for source, account, email, tags in (
            ("blog", "priya", PRIYA, ["fraud"]), ("blog", "bob", "bob@corp.example", ["fraud"]),
            ("forum", "pn_forum", FORUM_MAIL, ["subrogation"])):
        pipeline.ingest_pages(services, source, [Page([record(
            f"{source}-{account}", account, kind="blog_post" if source == "blog" else "answer",
            email=email, name="P.N." if source == "forum" else None, tags=tags,
            text=f"notes on {tags[0]}")], cursor=None)], full_pass=False)
    web = WebConfig(oidc_metadata_url="http://127.0.0.1:9/none", client_id="x",
                    session_secret_env="WEB_SESSION_SECRET")
    app = create_app({"SERVICES": dataclasses.replace(services, config=msgspec.structs.replace(
        services.config, web_secrets=SECRETS, web=web, smtp=smtp, smtp_auth=auth))})
    return MailSite("", app, services, clock, inbox or Inbox())


@pytest.fixture
def site(tmp_path: Path, smtp_server: tuple[Inbox, SmtpConfig]) -> Iterator[MailSite]:
    inbox, smtp = smtp_server
    site = _site(tmp_path, smtp, inbox=inbox)
    yield site
    site.services.engine.dispose()


def _csrf(page: str) -> str:
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token, page
    return token[1]


def _claim(client: Any) -> tuple[str, str]:
    """Claim forum:pn_forum; the form token and the claim's id."""
    token = _csrf(client.get("/me").get_data(as_text=True))
    made = client.post("/me/claims", data={"csrf": token, "source": "forum",
                                           "account": "pn_forum"})
    assert made.status_code == 303, made.get_data(as_text=True)
    [claim_id] = re.findall(r"/me/claims/(\d+)/mail", client.get("/me").get_data(as_text=True))
    return token, claim_id


def _send(site: MailSite, client: Any) -> tuple[str, str]:
    """Claim and have the link sent; the form token and the link's path and query."""
    token, claim_id = _claim(client)
    return token, _mail(site, client, token, claim_id)


def _mail(site: MailSite, client: Any, token: str, claim_id: str) -> str:
    """Have the claim's link sent; the link's path and query."""
    sent = client.post(f"/me/claims/{claim_id}/mail", data={"csrf": token})
    assert sent.status_code == 303 and "done=mailed" in sent.location
    message = site.inbox.messages[-1]
    body = message.get_content()
    [link] = re.findall(r"https?://\S+", body)
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def test_an_emailed_link_confirmed_links_the_account_once(site: MailSite) -> None:
    priya = site.client("sub-priya", PRIYA)
    person = site.person("blog", "priya")
    forum_person = site.person("forum", "pn_forum")
    assert forum_person != person
    token, claim_id = _claim(priya)
    page = priya.get("/me").get_data(as_text=True)
    # the address the forum verified, masked: never in full
    assert "p•••@forum-mail.example" in page and FORUM_MAIL not in page
    assert "Send me a link" in page

    link = _mail(site, priya, token, claim_id)
    [message] = site.inbox.messages
    assert message["To"] == FORUM_MAIL and message["From"] == "whoknows@corp.example"
    assert "pn_forum" in message["Subject"]
    body = message.get_content()
    # it may reach someone who is not the claimant: nothing about the employee
    assert "priya" not in body.lower() and "fraud" not in body
    with site.services.engine.connect() as conn:  # only the token's hash is stored
        stored = conn.exec_driver_sql("SELECT link_hash, link_sent_to FROM identity_claims"
                                      ).one()
    assert link.split("token=")[1] not in str(stored) and stored[1] == "p•••@forum-mail.example"

    # opening the link (as a mail scanner would) changes nothing
    opened = priya.get(link)
    assert opened.status_code == 200
    confirm = opened.get_data(as_text=True)
    assert "Confirm: forum account pn_forum is yours" in confirm
    assert site.person("forum", "pn_forum") == forum_person
    assert priya.get(link).status_code == 200  # and again: still nothing used

    form_token = re.search(r'name="token" value="([^"]+)"', confirm)
    assert form_token
    done = priya.post("/me/claims/link", data={"csrf": _csrf(confirm),
                                               "token": html.unescape(form_token[1])})
    assert done.status_code == 303 and "done=verified" in done.location
    assert site.person("forum", "pn_forum") == person
    with site.services.engine.connect() as conn:
        [entry] = [e for e in store_audit.entries(conn, person) if e.method == "self-claim"]
    assert entry.action == "merge" and entry.actor == "self:sub-priya"
    assert entry.reason == f"claim #{claim_id}: link sent to p•••@forum-mail.example verified"
    me = priya.get("/me").get_data(as_text=True)
    assert "forum: pn_forum" in me and "— verified" in me
    # search, the public card and the badge follow at once
    found = priya.get("/?q=subrogation").get_data(as_text=True)
    assert f'href="/people/{person}"' in found
    assert f'href="/people/{forum_person}"' not in found
    assert "subrogation" in priya.get(f"/v1/embed/{person}").get_data(as_text=True)
    assert "subrogation" in priya.get(f"/v1/badges/{person}.svg").get_data(as_text=True)

    # replayed: refused, clearly, and nothing more happens
    again = priya.get(link)
    assert again.status_code == 410 and "used already" in again.get_data(as_text=True)
    replay = priya.post("/me/claims/link", data={"csrf": token,
                                                 "token": link.split("token=")[1]})
    assert replay.status_code == 410
    with site.services.engine.connect() as conn:
        assert len([e for e in store_audit.entries(conn, person)
                    if e.method == "self-claim"]) == 1


def test_a_link_is_refused_when_unknown_expired_or_someone_elses(site: MailSite) -> None:
    priya = site.client("sub-priya", PRIYA)
    token, link = _send(site, priya)
    secret = link.split("token=")[1]
    forum_person = site.person("forum", "pn_forum")

    unknown = priya.get("/me/claims/link?token=made-up")
    assert unknown.status_code == 404 and "not valid" in unknown.get_data(as_text=True)
    assert priya.get("/me/claims/link").status_code == 404

    bob = site.client("sub-bob", "bob@corp.example")
    bob_token = _csrf(bob.get("/me").get_data(as_text=True))
    other = bob.get(link)
    assert other.status_code == 403 and "someone else" in other.get_data(as_text=True)
    assert "pn_forum" not in other.get_data(as_text=True)
    taken = bob.post("/me/claims/link", data={"csrf": bob_token, "token": secret})
    assert taken.status_code == 403
    # nor can bob send priya's claim a link
    [claim_id] = re.findall(r"/me/claims/(\d+)/mail", priya.get("/me").get_data(as_text=True))
    assert bob.post(f"/me/claims/{claim_id}/mail", data={"csrf": bob_token}).status_code == 404
    assert len(site.inbox.messages) == 1
    # without the form token, nothing is used
    assert priya.post("/me/claims/link", data={"token": secret}).status_code == 400
    assert site.person("forum", "pn_forum") == forum_person

    site.clock[0] = NOW + timedelta(hours=49)  # past the claim's 48 hours
    expired = priya.get(link)
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    late = priya.post("/me/claims/link", data={"csrf": token, "token": secret})
    assert late.status_code == 410
    assert site.person("forum", "pn_forum") == forum_person


def test_a_new_link_replaces_the_earlier_one(site: MailSite) -> None:
    priya = site.client("sub-priya", PRIYA)
    token, first = _send(site, priya)
    [claim_id] = re.findall(r"/me/claims/(\d+)/mail", priya.get("/me").get_data(as_text=True))
    assert priya.post(f"/me/claims/{claim_id}/mail", data={"csrf": token}).status_code == 303
    assert len(site.inbox.messages) == 2
    assert priya.get(first).status_code == 404
    [second] = re.findall(r"https?://\S+", site.inbox.messages[1].get_content())
    assert priya.get(second).status_code == 200


def _failing(tmp_path: Path, smtp: SmtpConfig, auth: tuple[str, str] | None) -> None:
    site = _site(tmp_path, smtp, auth)
    priya = site.client("sub-priya", PRIYA)
    token, claim_id = _claim(priya)
    sent = priya.post(f"/me/claims/{claim_id}/mail", data={"csrf": token})
    assert sent.status_code == 303 and "done=mail_failed" in sent.location
    page = priya.get(sent.location).get_data(as_text=True)
    assert "Sending the link failed" in page and 'role="alert"' in page
    # nothing of the mail server reaches the page
    assert str(smtp.port) not in page and "SMTP" not in page and "refused" not in page
    assert "— pending" in page and "claim-code" in page  # the claim waits; the code works
    assert site.person("forum", "pn_forum") != site.person("blog", "priya")
    site.services.engine.dispose()


def test_a_mail_server_that_is_down_leaves_the_claim_waiting(tmp_path: Path) -> None:
    _failing(tmp_path, SmtpConfig("127.0.0.1", "whoknows@corp.example", port=free_port(),
                                  security="none", timeout_seconds=5), None)


def test_a_refused_login_leaves_the_claim_waiting(tmp_path: Path) -> None:
    def refuse(server: Any, session: Any, envelope: Any, mechanism: str,
               data: Any) -> AuthResult:
        return AuthResult(success=False, handled=False)

    controller = Controller(Inbox(), hostname="127.0.0.1", port=free_port(),
                            authenticator=refuse, auth_require_tls=False)
    controller.start()
    try:
        _failing(tmp_path, SmtpConfig("127.0.0.1", "whoknows@corp.example",
                                      port=controller.port, security="none",
                                      timeout_seconds=5), ("whoknows", "wrong"))
    finally:
        controller.stop()


def test_without_smtp_no_link_is_offered(tmp_path: Path) -> None:
    site = _site(tmp_path, None)
    priya = site.client("sub-priya", PRIYA)
    token = _csrf(priya.get("/me").get_data(as_text=True))
    priya.post("/me/claims", data={"csrf": token, "source": "forum", "account": "pn_forum"})
    page = priya.get("/me").get_data(as_text=True)
    assert "claim-code" in page and "Send me a link" not in page and "•••" not in page
    [claim_id] = re.findall(r"/me/claims/(\d+)/check", page)
    refused = priya.post(f"/me/claims/{claim_id}/mail", data={"csrf": token})
    assert "done=no_link" in refused.location
    site.services.engine.dispose()


def test_in_the_browser_a_link_opened_signed_out_signs_in_then_confirms(
        browser: Any, tmp_path: Path, smtp_server: tuple[Inbox, SmtpConfig],
        axe_script: Path) -> None:  # noqa: F811
    """The happy path in Chromium: claim, send, open the link in another browser (signed
    out: sign-in brings it back to the confirmation), confirm; both pages axe-clean."""
    inbox, smtp = smtp_server
    with open_site(tmp_path, smtp=smtp) as site:
        pipeline.ingest_pages(site.services, "forum", [Page([record(
            "forum-mail", "nair", email=FORUM_MAIL, name="P.N.", tags=["subrogation"])],
            cursor=None)], full_pass=False)
        context = browser.new_context(bypass_csp=True)  # lets the test inject axe
        page = context.new_page()
        sign_in(page, site, "/me")
        page.get_by_label("Username there").fill("nair")
        page.select_option("#claim-source", "forum")
        page.get_by_role("button", name="Claim").click()
        page.get_by_role("button", name="Send me a link: forum nair").click()
        page.wait_for_selector("text=A link is on its way")
        assert page.locator(".mail-to").inner_text() == "p•••@forum-mail.example"
        violations = audit(page, axe_script)
        assert violations == [], describe(violations)
        [link] = re.findall(r"https?://\S+", inbox.messages[-1].get_content())
        assert link.startswith(site.url)

        elsewhere = browser.new_context(bypass_csp=True)
        mail_tab = elsewhere.new_page()
        sign_in(mail_tab, site, urlsplit(link).path + "?" + urlsplit(link).query)
        heading = mail_tab.get_by_role("heading", level=1)
        assert heading.inner_text() == "Confirm: forum account nair is yours"
        violations = audit(mail_tab, axe_script)
        assert violations == [], describe(violations)
        assert site.person("forum", "nair") != site.person("blog", "priya")
        mail_tab.get_by_role("button", name="Yes, that account is mine").click()
        mail_tab.wait_for_selector("text=Verified: the account is yours now.")
        assert site.person("forum", "nair") == site.person("blog", "priya")
        assert "forum: nair" in mail_tab.locator(".accounts").inner_text()
        elsewhere.close()
        context.close()
