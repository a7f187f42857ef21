"""A person's public expertise as a badge: the words and colour (`Badge`), drawn as a
shields-style SVG (badgepy, the maintained fork of Google's pybadges; its template escapes
every text) or as the body of a shields.io endpoint badge.

Pure: profile rows in, text out; no Flask, no SQL.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import badgepy
from badgepy.precalculated_text_measurer import PrecalculatedTextMeasurer

from service.reputation.levels import LEVELS

__all__ = ["MAX_NAME", "Badge", "TopicLevel", "clean_text", "person_badge", "shields_endpoint",
           "strongest", "svg"]

LABEL = "whoknows"
#: shields.io colour names (badgepy knows the same ones)
LEVEL_COLORS = {"authority": "brightgreen", "expert": "green", "contributor": "blue"}
NO_TOPICS_COLOR = "lightgrey"
#: the longest text drawn on a badge; longer names and topics end in an ellipsis
MAX_TEXT = 60
#: the longest name in a title or on a card
MAX_NAME = 120
# control, format (bidi overrides, zero-width), surrogate, private-use and unassigned
# characters: invalid in XML or able to disguise what a badge says
_DROPPED = {"Cc", "Cf", "Cs", "Co", "Cn"}


@dataclass(frozen=True, slots=True)
class TopicLevel:
    """One public topic of a person: its level and score."""

    topic: str
    level: str
    score: float
    #: the person confirmed it ("my profile"): the card marks it
    confirmed: bool = False


@dataclass(frozen=True, slots=True)
class Badge:
    """What a badge says: `label | message`, its colour (a shields.io name) and a title
    that says who and what, for screen readers and tooltips."""

    label: str
    message: str
    color: str
    title: str


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """`text` on one line, without characters that cannot appear in XML or that disguise
    it, cut to `limit` characters (an ellipsis marks the cut)."""
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in _DROPPED)
    line = " ".join(kept.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def strongest(topics: Sequence[TopicLevel]) -> TopicLevel | None:
    """The topic with the highest level (then the highest score), or None."""
    return max(topics, key=lambda t: (_rank(t.level), t.score), default=None)


def _rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else -1


def _score(score: float) -> str:
    return f"{score:.0f}" if score >= 10 else f"{score:.1f}"


def person_badge(name: str, topics: Sequence[TopicLevel], topic: str | None = None) -> Badge:
    """The badge of a person with these public topics: overall (`whoknows | level · score`
    of their strongest topic) or, given `topic` (which must be among `topics`), that
    topic's (`topic | level · score`)."""
    who = clean_text(name, MAX_NAME)
    if topic is not None:
        found = next(t for t in topics if t.topic == topic)
        return Badge(clean_text(topic), f"{found.level} · {_score(found.score)}",
                     LEVEL_COLORS.get(found.level, "blue"),
                     clean_text(f"{who}: {found.level} in {topic}", 200))
    best = strongest(topics)
    if best is None:
        return Badge(LABEL, "no topics yet", NO_TOPICS_COLOR,
                     f"{who}: no public expertise yet")
    return Badge(LABEL, f"{best.level} · {_score(best.score)}",
                 LEVEL_COLORS.get(best.level, "blue"),
                 clean_text(f"{who}: {best.level} in {best.topic} "
                            f"(score {_score(best.score)})", 200))


@functools.cache
def _measurer() -> PrecalculatedTextMeasurer:
    # badgepy's own default() loads these widths through a deprecated importlib API
    with resources.files("badgepy").joinpath("default-widths.json").open(encoding="utf-8") as f:
        return PrecalculatedTextMeasurer.from_json(f)  # type: ignore[arg-type]


def svg(badge: Badge, id_suffix: str = "") -> str:
    """The badge as a flat shields-style SVG document (text escaped by badgepy's
    autoescaping template); `id_suffix` keeps element ids apart when several badges are
    inlined in one page."""
    return str(badgepy.badge(left_text=badge.label, right_text=badge.message,
                             left_color="grey", right_color=badge.color,
                             whole_title=badge.title, id_suffix=id_suffix,
                             measurer=_measurer()))


def shields_endpoint(badge: Badge, cache_seconds: int) -> dict[str, Any]:
    """The body of a shields.io endpoint badge (schemaVersion 1)."""
    return {"schemaVersion": 1, "label": badge.label, "message": badge.message,
            "color": badge.color, "cacheSeconds": cache_seconds}
