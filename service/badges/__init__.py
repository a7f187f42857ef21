"""Public badges and the embeddable card: how a person's external-safe expertise looks
outside whoknows (pure: profile rows in, SVG, JSON and HTML out; no Flask, no SQL)."""

from __future__ import annotations

from service.badges.card import CARD_CSP, CardView, card_html, oembed, oembed_xml
from service.badges.render import (
    Badge,
    TopicLevel,
    clean_text,
    person_badge,
    shields_endpoint,
    strongest,
    svg,
)

__all__ = ["CARD_CSP", "Badge", "CardView", "TopicLevel", "card_html", "clean_text",
           "oembed", "oembed_xml", "person_badge", "shields_endpoint", "strongest", "svg"]
