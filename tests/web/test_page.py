"""The intranet page in a real headless Chromium: search, profile, filters, keyboard,
and a hostile display name that must stay text."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote_plus

from tests.web.conftest import HOSTILE_NAME, HOSTILE_WORD, Site, screenshot, tab_until

TOPIC = "medical insurance claims"


def _search(page: Any, site: Site, text: str) -> None:
    page.goto(site.url + "/")
    page.get_by_label("Topic, product or question").fill(text)
    page.keyboard.press("Enter")
    page.wait_for_selector("#results .card")


def _card_names(page: Any) -> list[str]:
    return [name.strip() for name in page.locator("#results .card h3").all_inner_texts()]


def test_a_search_from_the_page_shows_the_planted_expert_first(page: Any, site: Site) -> None:
    _search(page, site, TOPIC)
    expert = site.display_name(site.data.planted[TOPIC])
    assert _card_names(page)[0] == expert
    first = page.locator("#results .card").first
    assert first.locator(".level-authority").count() >= 1
    assert first.locator(".communities .aud-internal").count() == 1
    assert first.locator(".snippet mark").count() >= 1  # the matched words are highlighted
    assert "people know about" in page.locator("#status").inner_text()
    assert page.dialogs == []
    screenshot(page, "search.png")


def test_every_planted_expert_is_on_the_first_two_cards_for_their_topic(page: Any,
                                                                        site: Site) -> None:
    # first for most topics; the ranking also weighs who answers now (tests/demo)
    for topic, email in list(site.data.planted.items())[:4]:
        page.goto(f"{site.url}/?q={quote_plus(topic)}")
        assert site.display_name(email) in _card_names(page)[:2], topic


def test_a_card_opens_the_profile_with_topics_timeline_and_evidence(page: Any,
                                                                  site: Site) -> None:
    _search(page, site, TOPIC)
    expert = _card_names(page)[0]
    page.locator("#results .card h3 a").first.click()
    page.wait_for_selector("h1#person-name")
    assert page.locator("h1").inner_text() == expert
    topics = page.locator(".topics-table tbody tr")
    assert topics.count() >= 3
    assert TOPIC in topics.first.inner_text() and "authority" in topics.first.inner_text()
    chart = page.get_by_role("img", name="Contributions per month, last 24 months")
    assert chart.count() == 1
    assert page.locator(".timeline rect").count() >= 10
    assert page.locator("#evidence-heading ~ ul.evidence a").count() >= 3
    assert page.get_by_role("heading", name="Connections").count() == 1
    screenshot(page, "profile.png", full_page=True)


def test_community_and_source_filters_narrow_the_evidence(page: Any, site: Site) -> None:
    _search(page, site, TOPIC)
    page.get_by_label("partner", exact=True).check()  # JavaScript reloads the results
    page.wait_for_url("**community=partner**")
    page.wait_for_selector("#results .card")
    tags = page.locator("#results .evidence .where .aud").all_inner_texts()
    assert tags and set(tags) == {"partner"}

    page.goto(f"{site.url}/?q={quote_plus(TOPIC)}&source=customer-forum")
    sources = page.locator("#results .evidence .where").all_inner_texts()
    assert sources and all("customer-forum" in text for text in sources)


def test_active_since_drops_people_quiet_since_then(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/?q={quote_plus(TOPIC)}")
    everyone = int(page.locator("#status").inner_text().split()[0])
    page.get_by_label("Active since").fill("2026-04-01")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**since=2026-04-01**")
    status = page.locator("#status").inner_text()
    recent = int(status.split()[0]) if status[0].isdigit() else 0
    assert recent < everyone
    for text in page.locator("#results .evidence .where").all_inner_texts():
        assert date.fromisoformat(text.rsplit(", ", 1)[1]) >= date(2026, 4, 1)


def test_the_page_works_with_the_keyboard_alone(page: Any, site: Site) -> None:
    page.goto(site.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type(TOPIC)
    page.keyboard.press("Enter")
    page.wait_for_selector("#results .card")
    # through the filters to the first person's name
    tab_until(page, "el.closest('.card h3') !== null", "a person card")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    page.keyboard.press("Enter")
    page.wait_for_selector("h1#person-name")


def test_the_search_works_without_javascript(browser: Any, site: Site) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site.url + "/")
    page.get_by_label("Topic, product or question").fill(TOPIC)
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("#results .card")
    assert _card_names(page)[0] == site.display_name(site.data.planted[TOPIC])
    context.close()


def test_a_hostile_display_name_shows_as_text_and_never_runs(page: Any, site: Site) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    _search(page, site, HOSTILE_WORD)
    assert HOSTILE_NAME in _card_names(page)
    assert page.locator("#results img").count() == 0
    assert page.locator("#results script").count() == 0
    assert page.locator('#results a[href^="javascript:"]').count() == 0
    page.locator("#results .card h3 a").first.click()
    page.wait_for_selector("h1#person-name")
    assert page.locator("h1").inner_text() == HOSTILE_NAME
    assert page.title().startswith(HOSTILE_NAME)
    assert page.locator('a[href^="javascript:"]').count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    assert not [text for text in console if "alert" in text]


def test_why_this_rank_adds_up_and_the_profile_shows_what_search_weighs(page: Any,
                                                                         site: Site) -> None:
    _search(page, site, TOPIC)
    card = page.locator("#results .card").first
    card.get_by_text("Why this rank").click()
    rows = card.locator("table.signals tbody tr")
    names = [rows.nth(i).get_attribute("data-signal") for i in range(rows.count())]
    assert names[0] == "text" and "recent" in names
    points = [float(rows.nth(i).locator("td").nth(2).inner_text()) for i in range(rows.count())]
    score = float(card.locator("table.signals tfoot td").nth(2).inner_text())
    assert abs(sum(points) - score) <= 0.01 * len(points)  # each is rounded to 0.01
    card.locator("h3 a").click()
    page.wait_for_selector("h1#person-name")
    answers = page.locator(".in-search [data-signal=responses]").inner_text()
    assert int(answers.split()[0]) >= 1
