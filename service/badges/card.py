"""The embeddable card: a small static HTML page (no script, no external asset) with a
person's public expertise, for an iframe, and the oEmbed answer that embeds it."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup, escape

from service.badges.render import MAX_NAME, TopicLevel, clean_text

__all__ = ["CARD_CSP", "CARD_HEIGHT", "CARD_TOPICS", "CARD_WIDTH", "CardView", "card_html",
           "oembed", "oembed_xml"]

CARD_WIDTH = 360
CARD_HEIGHT = 280
#: the most topics a card lists (strongest first)
CARD_TOPICS = 5
#: how long an oEmbed consumer may cache the answer
OEMBED_CACHE_SECONDS = 3600

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("service.badges", "templates"),
                          autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True,
                          lstrip_blocks=True, undefined=jinja2.StrictUndefined)
_CSS = resources.files("service.badges").joinpath("templates/card.css").read_text("utf-8")
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
#: no script at all; the one stylesheet by its hash; images from whoknows only; any site
#: may frame the card (that is its purpose)
CARD_CSP = (f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors *")


@dataclass(frozen=True, slots=True)
class CardView:
    """What a card shows, and where its badge and oEmbed answer are (absolute URLs)."""

    name: str
    topics: Sequence[TopicLevel]
    badge_url: str
    badge_alt: str
    oembed_url: str


def card_html(view: CardView) -> str:
    """The card page (every value escaped by the template's autoescaping)."""
    return _ENV.get_template("card.html").render(
        name=clean_text(view.name, MAX_NAME), badge_url=view.badge_url, badge_alt=view.badge_alt,
        oembed_url=view.oembed_url, css=Markup(_CSS),
        topics=[TopicLevel(clean_text(t.topic), t.level, t.score, t.confirmed)
                for t in view.topics[:CARD_TOPICS]])


def oembed(name: str, card_url: str, provider_url: str, maxwidth: int | None,
           maxheight: int | None) -> dict[str, Any]:
    """The oEmbed 1.0 `rich` answer for a card: an iframe no larger than asked."""
    width = min(CARD_WIDTH, maxwidth or CARD_WIDTH)
    height = min(CARD_HEIGHT, maxheight or CARD_HEIGHT)
    title = clean_text(f"{clean_text(name, MAX_NAME)}: expertise on whoknows", 200)
    html = (f'<iframe src="{escape(card_url)}" width="{width}" height="{height}" '
            f'title="{escape(title)}" style="border:0" loading="lazy" sandbox '
            'referrerpolicy="no-referrer"></iframe>')
    return {"version": "1.0", "type": "rich", "provider_name": "whoknows",
            "provider_url": provider_url, "title": title, "html": html, "width": width,
            "height": height, "cache_age": OEMBED_CACHE_SECONDS}


def oembed_xml(answer: dict[str, Any]) -> str:
    """An oEmbed answer in the spec's XML form (`<oembed>` with one element per field)."""
    root = ET.Element("oembed")
    for key, value in answer.items():
        ET.SubElement(root, key).text = str(value)
    return ('<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n'
            + ET.tostring(root, encoding="unicode"))
