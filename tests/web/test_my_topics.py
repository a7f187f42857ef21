""""My profile": the signed-in person hides a topic (from everyone, or from the external
and partner audiences only) or confirms it, and undoes either; the change shows at once
in search, the badge, the card, the API's profile and every audience's view on the page,
is an identity audit entry, survives a full rebuild, and nobody does it for someone else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from service import pipeline
from service.connectors.base import Page
from service.store import audit as store_audit
from service.store import clients as store_clients
from service.store.schema import identity_links, people, profile_people, profile_topics
from tests.records import record
from tests.web.test_a11y import audit, axe_script, describe  # noqa: F401 - a fixture
from tests.web.test_my_profile import PRIYA, Site, site  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("site")
#: the topics the tags fraud and gdpr are normalised to
FRAUD, GDPR = "fraud detection", "data privacy gdpr"


@pytest.fixture
def topics(site: Site) -> Site:  # noqa: F811
    """Priya writes on fraud and gdpr inside and on the customer forum (one person by her
    verified e-mail); Carol, a customer, on fraud too."""
    pipeline.ingest_pages(site.services, "forum", [Page([
        record("f-priya-1", "priya_f", kind="answer", email=PRIYA, tags=["fraud", "gdpr"],
               text="fraud detection and gdpr for claims", day=3),
        record("f-carol-1", "carol", kind="answer", email="carol@customer.example",
               tags=["fraud"], text="fraud on my account", day=3),
    ], cursor=None)], full_pass=False)
    pipeline.ingest_pages(site.services, "blog", [Page([
        record("b-priya-2", "priya", kind="blog_post", email=PRIYA, tags=["gdpr"],
               text="gdpr notes", day=4)], cursor=None)], full_pass=False)
    return site


def _token(site: Site, audience: str) -> str:
    with site.services.engine.begin() as conn:
        client_id, secret = store_clients.create_client(
            conn, audience, ["experts:read", "profiles:read"], audience)
    answer = site.app.test_client().post("/oauth/token", auth=(client_id, secret),
                                         data={"grant_type": "client_credentials"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return str(answer.get_json()["access_token"])


def _found(site: Site, audience: str, query: str) -> set[int]:
    answer = site.app.test_client().get(
        "/v1/experts", query_string={"q": query},
        headers={"Authorization": f"Bearer {_token(site, audience)}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {hit["person_id"] for hit in answer.get_json()["hits"]}


def _api_topics(site: Site, audience: str, person: int) -> dict[str, bool]:
    answer = site.app.test_client().get(
        f"/v1/people/{person}", headers={"Authorization": f"Bearer {_token(site, audience)}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {t["topic"]: t["confirmed"] for t in answer.get_json()["topics"]}


def _badge_topics(site: Site, person: int) -> str:
    return site.app.test_client().get(f"/v1/badges/{person}.json").get_json()["message"]


def _card(site: Site, person: int) -> str:
    return site.app.test_client().get(f"/v1/embed/{person}").get_data(as_text=True)


def _decide(client: Any, topic: str, action: str) -> Any:
    page = client.get("/me").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token, page
    return client.post("/me/topics", data={"csrf": token[1], "topic": topic,
                                           "action": action})


def _view(page: str, audience: str) -> str:
    found = re.search(rf'<section class="audience-view" id="view-{audience}".*?</section>',
                      page, re.S)
    assert found, page
    return found[0]


def test_hidden_from_external_only_is_gone_outside_and_still_shown_inside(
        topics: Site) -> None:
    site = topics
    priya = site.person("blog", "priya")
    assert priya is not None and site.person("forum", "priya_f") == priya
    assert priya in _found(site, "external", "fraud")
    assert FRAUD in _api_topics(site, "external", priya)
    me = site.client("sub-priya", PRIYA)

    answer = _decide(me, FRAUD, "hide_external")
    assert answer.status_code == 303, answer.get_data(as_text=True)

    assert priya not in _found(site, "external", "fraud")
    assert priya not in _found(site, "partner", "fraud")
    assert priya in _found(site, "internal", "fraud")
    assert priya in _found(site, "external", "gdpr")  # her other topics still find her
    assert FRAUD not in _api_topics(site, "external", priya)
    assert FRAUD in _api_topics(site, "internal", priya)
    assert FRAUD not in _badge_topics(site, priya) and FRAUD not in _card(site, priya)
    page = me.get("/me").get_data(as_text=True)
    assert FRAUD not in _view(page, "external") and FRAUD not in _view(page, "partner")
    assert FRAUD in _view(page, "internal")
    assert "hidden from customers and partners" in page

    assert _decide(me, FRAUD, "undo").status_code == 303
    assert priya in _found(site, "external", "fraud")
    assert FRAUD in _api_topics(site, "external", priya)
    with site.services.engine.connect() as conn:
        entries = [e for e in store_audit.entries(conn, priya) if e.action == "topic"]
    assert [(e.method, e.actor) for e in entries] == [
        ("hidden_external", "self:sub-priya"), ("shown", "self:sub-priya")]


def test_hidden_from_everyone_is_gone_in_every_audience(topics: Site) -> None:
    site = topics
    priya = site.person("blog", "priya")
    assert priya is not None
    assert _decide(site.client("sub-priya", PRIYA), FRAUD, "hide_all").status_code == 303
    for audience in ("internal", "partner", "external"):
        assert priya not in _found(site, audience, "fraud")
        assert FRAUD not in _api_topics(site, audience, priya)
    colleague = site.client("sub-bob", "bob@corp.example")
    profile = colleague.get(f"/people/{priya}").get_data(as_text=True)
    assert FRAUD not in profile.split('id="topics-heading"')[1].split("</section>")[0]
    page = site.client("sub-priya", PRIYA).get("/me").get_data(as_text=True)
    assert "hidden from everyone" in page and f"Undo: {FRAUD}" in page


def test_a_confirmed_topic_carries_a_mark_and_ranks_as_before(topics: Site) -> None:
    site = topics
    priya = site.person("blog", "priya")
    assert priya is not None
    before = _found(site, "external", "gdpr")
    assert _decide(site.client("sub-priya", PRIYA), GDPR, "confirm").status_code == 303
    assert _api_topics(site, "external", priya) == {GDPR: True, FRAUD: False}
    assert _api_topics(site, "internal", priya)[GDPR] is True
    assert "✓ confirmed" in _card(site, priya)
    assert _found(site, "external", "gdpr") == before
    page = site.client("sub-priya", PRIYA).get("/me").get_data(as_text=True)
    assert "✓ confirmed by you" in _view(page, "external")
    colleague = site.client("sub-bob", "bob@corp.example")
    assert "✓ confirmed by them" in colleague.get(f"/people/{priya}").get_data(as_text=True)


def test_another_users_session_cannot_change_someone_elses_topics(topics: Site) -> None:
    site = topics
    priya = site.person("blog", "priya")
    assert priya is not None
    bob = site.client("sub-bob", "bob@corp.example")
    refused = _decide(bob, GDPR, "hide_all")  # bob has no gdpr: nothing of priya's moves
    assert refused.status_code == 400 and "topic" in refused.get_data(as_text=True)
    assert GDPR in _api_topics(site, "external", priya)
    forged = site.client("sub-priya", PRIYA).post(
        "/me/topics", data={"csrf": "forged", "topic": GDPR, "action": "hide_all"})
    assert forged.status_code == 400 and "csrf" in forged.get_data(as_text=True)
    bad = _decide(site.client("sub-priya", PRIYA), GDPR, "delete")
    assert bad.status_code == 400 and "action" in bad.get_data(as_text=True)
    assert site.app.test_client().post("/me/topics", data={"topic": GDPR}).status_code \
        in (302, 403)
    assert GDPR in _api_topics(site, "external", priya)


def test_a_hidden_topic_survives_a_rebuild_and_people_made_again(topics: Site) -> None:
    site = topics
    priya = site.person("blog", "priya")
    assert priya is not None
    assert _decide(site.client("sub-priya", PRIYA), FRAUD, "hide_external").status_code \
        == 303
    pipeline.rebuild(site.services)
    assert priya not in _found(site, "external", "fraud")
    # a store whose people are resolved afresh: new person ids, the decision follows
    with site.services.engine.begin() as conn:
        for table in (profile_topics, profile_people, identity_links, people):
            conn.execute(delete(table))
        # a row in the way, so that SQLite hands out ids it has not given before
        conn.execute(people.insert().values(id=priya + 100, display_name="x",
                                            opt_out_external=False))
    pipeline.rebuild(site.services)
    again = site.person("blog", "priya")
    assert again is not None and again != priya
    assert again not in _found(site, "external", "fraud")
    assert again in _found(site, "internal", "fraud")
    assert FRAUD not in _badge_topics(site, again)


def test_in_the_browser_hide_from_external_leaves_the_badge_and_external_search(
        browser: Any, topics: Site, axe_script: Path) -> None:  # noqa: F811
    site = topics
    priya = site.person("blog", "priya")
    assert priya is not None
    context = browser.new_context(bypass_csp=True)  # lets the test inject axe
    page = context.new_page()
    page.goto(f"{site.url}/me")
    page.locator("input[name=login]").fill(PRIYA)
    page.locator("input[name=password]").fill("any")
    page.locator("button[type=submit]").click()
    page.locator("button[type=submit]", has_text="Continue").click()  # consent
    page.wait_for_selector("#topics-heading")
    assert FRAUD in page.locator("#view-external").inner_text()
    page.get_by_role("button", name=f"Hide from customers and partners: {FRAUD}").click()
    page.wait_for_selector(".state-hidden_external")
    assert FRAUD not in page.locator("#view-external").inner_text()
    assert FRAUD not in page.locator("#view-partner").inner_text()
    assert FRAUD in page.locator("#view-internal").inner_text()
    page.get_by_role("button", name=f"Confirm: {GDPR}").click()
    page.wait_for_selector(".state-confirmed")
    assert "✓ confirmed by you" in page.locator("#view-external").inner_text()
    violations = audit(page, axe_script)
    assert violations == [], describe(violations)
    badge = context.request.get(f"{site.url}/v1/badges/{priya}.svg").text()
    assert GDPR in badge and FRAUD not in badge
    card = page.context.new_page()
    card.goto(f"{site.url}/v1/embed/{priya}")
    assert FRAUD not in card.content() and "✓ confirmed" in card.content()
    context.close()
    assert priya not in _found(site, "external", "fraud")
    assert priya in _found(site, "internal", "fraud")
