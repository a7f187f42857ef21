"""An external embed page in a real headless Chromium: a fake community page, served from
another origin, with the badge `<img>` a Discourse admin pastes (README, "Badges for your
community") for several demo people and the card iframe from the oEmbed answer. The badges
load, the card shows the public expertise, and no internal text reaches the page, the
card or any response the browser received; a hostile display name executes nothing."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from urllib.request import urlopen

import pytest
from sqlalchemy import select

from service.badges import clean_text
from service.badges.card import CARD_TOPICS
from service.badges.render import MAX_NAME
from service.demo.company import BLOG, FORUM
from service.demo.generator import MARKER
from service.store.schema import profile_topics
from tests.web.conftest import HOSTILE_NAME, SCREENSHOTS, Site, screenshot, serve

#: the planted experts (and a customer) whose forum names the community page shows
MEMBERS = ("samuel.mensah@lumenmutual.example", "amara.duarte@lumenmutual.example",
           "lukas.haddad@lumenmutual.example", "ahmed.silva@lumenmutual.example",
           "ines.patel@harbourclinic.example")
CARD_PERSON = "samuel.mensah@lumenmutual.example"
HOSTILE_ACCOUNT = "mallory"  # planted by tests/web/conftest.py with HOSTILE_NAME

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - Lumen community</title>
<style>
body{{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#222}}
header{{background:#1c3d5a;color:#fff;padding:10px 24px;font-weight:600}}
main{{max-width:860px;margin:16px auto;padding:0 16px}}
.post{{display:flex;gap:14px;background:#fff;border:1px solid #dde;border-radius:6px;
padding:10px 14px;margin-bottom:10px}}
.names{{min-width:230px}}.names b{{display:block}}
.whoknows-badge{{vertical-align:middle}}
.onebox{{margin:14px 0}}
</style></head>
<body><header>Lumen customer community</header><main>
<h1>{title}</h1>
{body}
</main></body></html>"""


@dataclass
class Community:
    """The fake community site (its own origin) and the pages it serves."""

    url: str
    pages: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def community() -> Iterator[Community]:
    pages: dict[str, str] = {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        found = pages.get(environ["PATH_INFO"])
        start_response("200 OK" if found else "404 Not Found",
                       [("Content-Type", "text/html; charset=utf-8")])
        return [(found or "not here").encode()]

    with serve(app) as url:
        yield Community(url, pages)


def _forum_name(site: Site, email: str) -> str:
    return next(p.usernames[FORUM] for p in site.data.people if p.email == email)


def _badge_url(site: Site, username: str) -> str:
    # the README's Discourse snippet, with the demo's source id
    return f"{site.url}/v1/badges/by-account/{FORUM}/{quote(username)}.svg"


def _badge_img(site: Site, username: str) -> str:
    return (f'<img class="whoknows-badge" height="20" loading="lazy" '
            f'alt="whoknows expertise" src="{html.escape(_badge_url(site, username))}">')


def _oembed(site: Site, username: str) -> dict[str, Any]:
    """The oEmbed answer for a card, fetched server-side as the community's onebox does."""
    card = f"{site.url}/v1/embed/by-account/{FORUM}/{quote(username)}"
    with urlopen(f"{site.url}/v1/oembed?url={quote(card, safe='')}", timeout=10) as answer:
        assert answer.status == 200
        body = json.loads(answer.read())
    assert body["type"] == "rich"
    src = re.fullmatch(r'<iframe src="([^"]+)" width="360" height="280" title="[^"]*" '
                       r'style="border:0" loading="lazy" sandbox '
                       r'referrerpolicy="no-referrer"></iframe>', body["html"])
    assert src is not None and html.unescape(src.group(1)) == card, body["html"]
    return body


def _topics(site: Site, email: str, scope: str) -> list[str]:
    """A person's topics in a reputation scope, strongest first, straight from the store."""
    t = profile_topics.c
    with site.services.engine.connect() as conn:
        rows = conn.execute(select(t.topic).where(
            t.person_id == site.person_id(email), t.scope == scope).order_by(t.score.desc()))
        return [row.topic for row in rows]


def _secrets(site: Site) -> list[str]:
    """Text that only the internal audience may see: the marker, departments, e-mails,
    intranet usernames and hosts, and the titles of intranet blog posts (as written and
    as HTML would carry them)."""
    people = [p for p in site.data.people if p.email in MEMBERS]
    texts = {MARKER, "intranet.lumenmutual.example", "@lumenmutual.example"}
    texts |= {p.department for p in site.data.people if p.department}
    texts |= {p.email for p in people}
    texts |= {p.usernames[BLOG] for p in people if BLOG in p.usernames}
    public_titles = {r.title for s, records in site.data.records.items() if s != BLOG
                     for r in records}
    texts |= {r.title for r in site.data.records[BLOG] if r.title
              and r.title not in public_titles}
    return sorted(texts | {html.escape(t) for t in texts})


def _leaks(text: str, secrets: Iterable[str]) -> list[str]:
    return [secret for secret in secrets if secret in text]


def _bodies(responses: list[Any]) -> list[tuple[str, str]]:
    """(url, body) of every response the browser received (redirects have none)."""
    return [(r.url, r.body().decode("utf-8", "replace")) for r in responses
            if not 300 <= r.status < 400]


def _wait_for_images(page: Any, frame: Any | None = None) -> None:
    (frame or page).wait_for_function(
        "Array.from(document.images).every(i => i.complete)", timeout=10_000)


def test_a_community_page_shows_badges_and_the_card_and_never_internal_text(
        page: Any, site: Site, community: Community) -> None:
    names = {email: _forum_name(site, email) for email in MEMBERS}
    card_name = names[CARD_PERSON]
    answer = _oembed(site, card_name)
    posts = "\n".join(
        f'<div class="post"><div class="names"><b>{html.escape(name)}</b>'
        f'{_badge_img(site, name)}</div><p>Thanks, that fixed our claims export.</p></div>'
        for name in names.values())
    community.pages["/t/claims-export"] = PAGE.format(
        title="Claims export fails after the update",
        body=f'{posts}\n<div class="onebox">{answer["html"]}</div>')

    responses: list[Any] = []
    page.on("response", lambda response: responses.append(response))
    page.goto(f"{community.url}/t/claims-export")
    page.wait_for_load_state("networkidle")
    _wait_for_images(page)

    badges = page.locator("img.whoknows-badge")
    assert badges.count() == len(MEMBERS)
    widths = badges.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert all(width > 0 for width in widths), widths

    frame = page.frame_locator(".onebox iframe")
    expert = site.display_name(CARD_PERSON)
    assert frame.locator("h1").inner_text() == expert
    shown = frame.locator(".topic").all_inner_texts()
    public = _topics(site, CARD_PERSON, "public")
    assert shown == public[:CARD_TOPICS]
    # what an internal reader would see differs: the card must not show that view
    internal_view = set(_topics(site, CARD_PERSON, "all")[:CARD_TOPICS]) - set(shown)
    internal_only = set(_topics(site, CARD_PERSON, "all")) - set(public)
    assert internal_view and internal_only  # else the demo no longer tests the audience
    card = page.frame(url=re.compile(r".*/v1/embed/by-account/.*"))
    assert card is not None
    _wait_for_images(page, card)
    assert card.evaluate("document.querySelector('img').naturalWidth") > 0
    card_text = card.evaluate("document.documentElement.outerHTML")
    for topic in internal_view | internal_only:
        assert topic not in card_text

    secrets = _secrets(site)
    assert MARKER in secrets and "Claims Operations" in secrets and len(secrets) > 50
    assert _leaks(page.content(), secrets) == []
    assert _leaks(card_text, secrets) == []
    assert _leaks(json.dumps(answer), secrets) == []
    bodies = _bodies(responses)
    badge_bodies = [b for url, b in bodies if "/v1/badges/" in url]
    # the bodies looked at are the real ones: every member's badge and the card's own
    assert len(badge_bodies) == len(MEMBERS) + 1
    assert all(b.startswith("<svg") for b in badge_bodies)
    for email, name in names.items():
        (body, *_) = [b for url, b in bodies if url == _badge_url(site, name)]
        hidden = set(_topics(site, email, "all")) - set(_topics(site, email, "public"))
        assert [topic for topic in hidden if topic in body] == [], name
    assert any(expert in b for url, b in bodies if "/v1/embed/" in url)
    for url, body in bodies:
        assert _leaks(body, secrets) == [], url
    assert page.dialogs == []

    screenshot(page, "embed.png", full_page=True)
    crop = page.locator(".post .names").first.bounding_box()
    last = page.locator(".post .names").nth(2).bounding_box()
    assert crop is not None and last is not None
    page.screenshot(path=str(SCREENSHOTS / "badge.png"),
                    clip={"x": crop["x"] - 6, "y": crop["y"] - 6, "width": crop["width"] + 12,
                          "height": last["y"] + last["height"] - crop["y"] + 12})


def test_an_intranet_account_gets_no_badge_on_the_community_page(
        page: Any, site: Site, community: Community) -> None:
    blog_name = next(p.usernames[BLOG] for p in site.data.people if p.email == CARD_PERSON)
    src = f"{site.url}/v1/badges/by-account/{BLOG}/{quote(blog_name)}.svg"
    community.pages["/u/intranet"] = PAGE.format(
        title="An intranet account", body=f'<img class="whoknows-badge" src="{src}">')
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    with page.expect_request(src) as badge:
        page.goto(f"{community.url}/u/intranet")
    _wait_for_images(page)
    # the 404's problem+json is no image: Chromium's ORB drops it before the page sees it
    response = badge.value.response()
    assert (response is not None and response.status == 404) or failed == [
        f"{src} net::ERR_BLOCKED_BY_ORB"]
    assert page.locator("img.whoknows-badge").evaluate("i => i.naturalWidth") == 0


def test_a_hostile_display_name_executes_nothing_in_the_badge_or_the_card(
        page: Any, site: Site, community: Community) -> None:
    """The badge as an image and inlined (its SVG pasted into the page, as a theme may
    do), the card framed from the oEmbed answer and opened on its own: no dialog, no
    console message, no element the name would make."""
    svg_url = _badge_url(site, HOSTILE_ACCOUNT)
    with urlopen(svg_url, timeout=10) as answer:
        inline_svg = answer.read().decode()
    answer = _oembed(site, HOSTILE_ACCOUNT)
    community.pages["/u/mallory"] = PAGE.format(
        title="mallory", body=(
            f'<div class="post"><div class="names"><b>mallory</b>'
            f'{_badge_img(site, HOSTILE_ACCOUNT)}</div>'
            f'<div id="inlined">{inline_svg}</div></div>'
            f'<div class="onebox">{answer["html"]}</div>'))
    console: list[str] = []
    # everything but the browser's own favicon requests (neither site has one)
    page.on("console", lambda message: None if message.location["url"].endswith(
        "/favicon.ico") else console.append(f"{message.text} {message.location}"))
    page.on("pageerror", lambda error: console.append(str(error)))

    page.goto(f"{community.url}/u/mallory")
    page.wait_for_load_state("networkidle")
    _wait_for_images(page)
    shown = clean_text(HOSTILE_NAME)
    assert page.locator("img.whoknows-badge").evaluate("i => i.naturalWidth") > 0
    # the name is text in the inlined SVG's title, not markup
    assert shown[:40] in page.locator("#inlined svg title").first.text_content()
    assert page.locator("#inlined svg *").evaluate_all(
        "els => els.filter(e => !(e instanceof SVGElement)).length") == 0
    assert page.locator("script, img:not(.whoknows-badge), foreignObject").count() == 0
    card = page.frame(url=re.compile(r".*/v1/embed/by-account/.*"))
    assert card is not None
    assert card.locator("h1").inner_text() == clean_text(HOSTILE_NAME, MAX_NAME)
    assert card.locator("script").count() == 0 and card.locator("img").count() == 1
    for frame in page.frames:
        assert frame.evaluate("window.__pwned") is None

    # the card on its own, unsandboxed: its escaping (and its CSP) keep the name text
    page.goto(answer["html"].split('"')[1].replace("&amp;", "&"))
    assert page.locator("h1").inner_text() == clean_text(HOSTILE_NAME, MAX_NAME)
    assert page.locator("script").count() == 0 and page.locator("img").count() == 1

    for frame in page.frames:
        assert frame.evaluate("window.__pwned") is None
    assert page.dialogs == []
    assert console == []
