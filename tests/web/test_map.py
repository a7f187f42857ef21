"""The connection map and a profile's connections and recent topics, in a real headless
Chromium on the demo company; and the map staying inside: never framed, cached or
reachable through the public embed routes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from service.api import create_app
from service.insight import queries as insight_queries
from service.insight import store as insight_store
from service.web.graphmap import MAX_NODES
from tests.web.conftest import NOW, Site, screenshot, tab_until

TOPIC = "medical insurance claims"
OTHER_TOPIC = "underwriting"
COMMUNITIES = {"internal", "external", "partner"}


def _map(page: Any, site: Site, topic: str, since: str = "") -> None:
    page.goto(f"{site.url}/map?topic={quote_plus(topic)}&since={since}")
    page.wait_for_selector("#map-status")


def _nodes(page: Any) -> dict[int, str]:
    """The people on the map: id -> home community."""
    return {int(node.get_attribute("data-person")): node.get_attribute("data-community")
            for node in page.locator("#connection-map a.node").all()}


def _colour(page: Any, selector: str) -> str:
    return str(page.locator(selector).first.evaluate(
        "el => { const s = getComputedStyle(el); "
        "return s.fill !== 'none' && el.tagName !== 'SPAN' ? s.fill : s.color; }"))


def test_the_demo_load_computed_the_community_insight(site: Site) -> None:
    with site.services.engine.connect() as conn:
        assert insight_store.last_state(conn) is not None


def test_a_topic_map_shows_every_community_on_it_in_the_badge_colours(page: Any,
                                                                      site: Site) -> None:
    _map(page, site, TOPIC)
    nodes = _nodes(page)
    assert 10 < len(nodes) <= MAX_NODES
    assert set(nodes.values()) == COMMUNITIES  # employees, customers and partners talk
    for community in COMMUNITIES:
        dot = _colour(page, f"#connection-map a.node[data-community={community}] .dot")
        badge = _colour(page, f".aud-{community}")  # the badges of the lists below
        swatch = page.locator(f"figure.map .swatch.seg-{community}").evaluate(
            "el => getComputedStyle(el).backgroundColor")
        assert dot == badge == swatch, community
    assert page.locator("#connection-map line").count() >= len(nodes) - 1
    widths = {float(w) for w in page.locator("#connection-map line").evaluate_all(
        "lines => lines.map(l => l.getAttribute('stroke-width'))")}
    assert len(widths) > 3  # edges differ by their weight
    assert page.locator("#connection-map text").count() >= 8  # the names of the strongest
    assert "most connected people" in page.locator("#map-status").inner_text()
    page.set_viewport_size({"width": 1280, "height": 1080})  # the map and its legend
    screenshot(page, "map.png")


def test_the_planted_expert_is_the_first_bridge_listed_and_highlighted(page: Any,
                                                                       site: Site) -> None:
    _map(page, site, TOPIC)
    expert = site.person_id(site.data.planted[TOPIC])
    first = page.locator(".bridges-list li").first
    assert first.locator("a").inner_text() == site.display_name(site.data.planted[TOPIC])
    assert first.locator(".aud-internal").count() == 1
    assert "of the paths" in first.inner_text()
    node = page.locator(f"#connection-map a.node[data-person='{expert}']")
    assert "bridge" in (node.get_attribute("class") or "")
    assert node.locator("circle.halo").count() == 1
    assert node.locator("text").text_content() == \
        site.display_name(site.data.planted[TOPIC])


def test_clicking_a_person_on_the_map_opens_their_profile(page: Any, site: Site) -> None:
    _map(page, site, TOPIC)
    customer = next(person for person, home in _nodes(page).items() if home == "external")
    name = page.locator(f"#connection-map a.node[data-person='{customer}']").get_attribute(
        "aria-label").split(":")[0]
    page.locator(f"#connection-map a.node[data-person='{customer}'] .dot").click()
    page.wait_for_url(f"**/people/{customer}")
    assert page.locator("h1").inner_text() == name


def test_the_topic_filter_and_the_since_date_change_the_map(page: Any, site: Site) -> None:
    _map(page, site, TOPIC)
    before = _nodes(page)
    page.get_by_label("Topic").select_option(OTHER_TOPIC)
    page.get_by_role("button", name="Show the map").click()
    page.wait_for_url(f"**topic={OTHER_TOPIC}**")
    after = _nodes(page)
    assert after and after != before
    assert OTHER_TOPIC in page.locator("h1").inner_text()
    assert page.locator(".bridges-list li a").first.inner_text() == \
        site.display_name(site.data.planted[OTHER_TOPIC])
    everything = int(page.locator("#map-status").inner_text().split("(")[1].split()[0])

    page.get_by_label("Interactions since").fill((NOW - timedelta(days=60)).date().isoformat())
    page.get_by_role("button", name="Show the map").click()
    page.wait_for_url("**since=**")
    recent = page.locator("#map-status").inner_text()
    assert recent.startswith("No connections") or \
        int(recent.split("(")[1].split()[0]) < everything


def test_the_map_has_tables_for_screen_readers_and_works_by_keyboard(page: Any,
                                                                     site: Site) -> None:
    _map(page, site, TOPIC)
    svg = page.locator("#connection-map")
    assert svg.get_attribute("role") == "group"
    assert page.get_by_role("group", name=f"Connection map on {TOPIC}").count() == 1
    rows = page.locator(".strongest-table tbody tr")
    assert rows.count() == 20
    weights = [float(text) for text in rows.locator("td:nth-child(3)").all_inner_texts()]
    assert weights == sorted(weights, reverse=True)
    on_map = {page.locator(f"a.node[data-person='{p}']").get_attribute("aria-label")
              .split(":")[0] for p in _nodes(page)}
    assert set(rows.locator("th a").all_inner_texts()) <= on_map

    page.get_by_label("Topic").focus()
    page.keyboard.press("ArrowDown")  # the next topic in the list
    chosen = page.get_by_label("Topic").input_value()
    assert chosen != TOPIC
    # past the date's day, month and year fields
    tab_until(page, "el.textContent === 'Show the map'", "the button", limit=6)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**topic={quote_plus(chosen)}**")
    # past the header and the filter to the first person on the map
    tab_until(page, "el.matches('a.node')", "a person on the map", limit=20)
    focused = page.evaluate("document.activeElement.dataset.person")
    ring = page.evaluate("getComputedStyle(document.activeElement.querySelector('.dot'))"
                         ".strokeWidth")
    assert ring == "3px"  # the focused person stands out
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/people/{focused}")


def test_the_map_is_in_the_header_and_a_profile_topic_opens_its_map(page: Any,
                                                                    site: Site) -> None:
    page.goto(site.url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link",
                                                            name="Connection map").click()
    page.wait_for_selector("#map-status")
    assert page.locator("h1").inner_text() == "Who works with whom"
    assert len(_nodes(page)) > 10  # every topic together
    expert = site.person_id(site.data.planted[TOPIC])
    page.goto(f"{site.url}/people/{expert}")
    page.locator(".topics-table").get_by_role("link", name=TOPIC).click()
    page.wait_for_url(f"**/map?topic={quote_plus(TOPIC)}")
    assert expert in _nodes(page)


def test_a_profile_shows_connections_inside_and_outside_and_recent_topics(
        page: Any, site: Site) -> None:
    expert = site.person_id(site.data.planted[OTHER_TOPIC])
    page.goto(f"{site.url}/people/{expert}")
    inside = page.locator("#inside-heading + .connection-list li")
    outside = page.locator("#outside-heading + .connection-list li")
    assert inside.count() >= 3 and outside.count() >= 3
    assert all(".aud-internal" not in html for html in outside.evaluate_all(
        "items => items.map(i => i.innerHTML)"))  # customers and partners only
    assert inside.first.locator(".aud-internal").count() == 1
    assert "weight" in inside.first.inner_text() and "replies" in inside.first.inner_text()
    weights = [float(t.split()[1].rstrip(":")) for t in
               inside.locator(".count").all_inner_texts()]
    assert weights == sorted(weights, reverse=True)

    rows = page.locator(".working-on-table tbody tr")
    assert rows.count() >= 1
    counts = [(int(r.locator("td").nth(0).inner_text()), int(r.locator("td").nth(1).inner_text()))
              for r in rows.all()]
    assert all(d90 >= d30 and d90 > 0 for d30, d90 in counts)
    assert [d30 for d30, _ in counts] == sorted((d30 for d30, _ in counts), reverse=True)
    newest = max(item[:10] for item in page.locator(
        "#recent-heading + ul .where").all_inner_texts()
        for item in [item.rsplit(", ", 1)[1]])
    if newest >= (NOW - timedelta(days=30)).date().isoformat():
        assert counts[0][0] > 0  # active this month: something is "working on now"
    name = inside.first.locator("a").inner_text()
    inside.first.locator("a").click()
    page.wait_for_selector("h1#person-name")
    assert page.locator("h1").inner_text() == name


@pytest.fixture(scope="module")
def client(demo_services: Any) -> Any:
    return create_app({"SERVICES": demo_services[0]}).test_client()


def test_the_map_is_never_framed_or_kept_by_a_shared_cache(client: Any) -> None:
    response = client.get(f"/map?topic={quote_plus(TOPIC)}")
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "private, no-store"


def test_a_bad_map_date_is_a_400_naming_it_and_an_unknown_topic_an_empty_map(
        client: Any) -> None:
    response = client.get("/map?since=yesterday")
    assert response.status_code == 400
    assert 'class="error">since: ' in response.get_data(as_text=True)
    html = client.get("/map?topic=zzz+nobody+talks+about").get_data(as_text=True)
    assert "No connections on “zzz nobody talks about”" in html
    assert 'class="node' not in html


def test_the_public_embed_routes_never_serve_the_map(client: Any, site: Site) -> None:
    """The oEmbed endpoint answers for card URLs only; the public card of the strongest
    bridge carries nothing of the map: no link to it, none of their internal colleagues."""
    expert = site.person_id(site.data.planted[TOPIC])
    assert client.get(f"/v1/oembed?url={quote('http://localhost/v1/embed/' + str(expert))}"
                      ).status_code == 200  # a card URL does answer
    for path in (f"/map?topic={quote_plus(TOPIC)}", "/map", f"/people/{expert}"):
        response = client.get(f"/v1/oembed?url={quote('http://localhost' + path, safe='')}")
        assert response.status_code == 404, path
        assert "Mensah" not in response.get_data(as_text=True)
    card = client.get(f"/v1/embed/{expert}").get_data(as_text=True)
    assert "/map" not in card and "/people/" not in card and "bridge" not in card.lower()
    with site.services.engine.connect() as conn:
        colleagues = [c["display_name"] for c in
                      insight_queries.connections(conn, "all", expert, 40)
                      if "internal" in c["communities"]]
    assert colleagues  # the map and the profile show them; the card never does
    assert not [name for name in colleagues if name in card]
