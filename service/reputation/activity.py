"""The person prior of the search ranking: what a person's responses add up to. Pure.

A response is an answer or a reply to someone else (a self-reply is not one). Per scope (as
the topic scores): how many responses, how many of them were accepted (not by their own
author), their votes (the score, or the likes from others when more), and the activity, the
responses counted with an exponential decay of `ACTIVITY_HALF_LIFE_DAYS`: people who
answered last month answer next month.

The activity is stored as `activity_log2` = log2 Σ 2^((created - ACTIVITY_EPOCH) / half-life),
so that `recent_activity(activity_log2, now)` gives the decayed count at any moment, however
long ago the row was computed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from service.reputation.scoring import ContributionFacts

__all__ = ["ACTIVITY_HALF_LIFE_DAYS", "RESPONSE_KINDS", "activity_rows", "recent_activity"]

ACTIVITY_HALF_LIFE_DAYS = 30.0
ACTIVITY_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
RESPONSE_KINDS = frozenset({"answer", "reply"})


def _half_lives(moment: datetime) -> float:
    return (moment - ACTIVITY_EPOCH).total_seconds() / 86400 / ACTIVITY_HALF_LIFE_DAYS


def recent_activity(activity_log2: float | None, now: datetime) -> float:
    """The responses counted with their decay at `now` (0 for none)."""
    if activity_log2 is None:
        return 0.0
    return 2.0 ** min(60.0, activity_log2 - _half_lives(now))


def activity_rows(person_id: int, facts: Iterable[ContributionFacts],
                  scopes: dict[str, frozenset[str] | None]) -> list[dict[str, Any]]:
    """Return the profile_people rows of one person, one per scope with responses."""
    responses = [f for f in facts if f.kind in RESPONSE_KINDS and not f.self_reply]
    rows = []
    for scope, audiences in scopes.items():
        mine = [f for f in responses if audiences is None or f.audience in audiences]
        if not mine:
            continue
        exponents = [_half_lives(f.created) for f in mine]
        top = max(exponents)
        rows.append({
            "person_id": person_id, "scope": scope, "responses": len(mine),
            "accepted": sum(1 for f in mine if f.accepted and not f.self_accepted),
            # a platform gives a score, likes, or both (StackExchange: likes are its up-votes)
            "votes": sum(max(f.score, f.likes - f.self_likes, 0) for f in mine),
            "activity_log2": round(top + math.log2(sum(2.0 ** (e - top) for e in exponents)), 9),
            "last_active": max(f.created for f in mine),
        })
    return rows
