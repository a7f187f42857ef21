"""Hot groups: whom to convene on a topic. Pure.

Candidates are the people on the topic with the best scores and the most contributions
in the last 90 days. Each community active on the topic (internal, external, partner)
gets its best person first, then seats go round the communities in turn, so the group is
spread across them; within a community the order is level, then recent activity, then
score. People not active for `STALE_DAYS` only fill seats nobody recent can.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

__all__ = ["STALE_DAYS", "choose_group"]

STALE_DAYS = 180
_LEVEL_RANK = {"authority": 2, "expert": 1, "contributor": 0}
_ROLE = {"internal": "employee", "external": "customer", "partner": "partner"}


def _reason(person: dict[str, Any], topic: str) -> str:
    parts = []
    if person["level"] in ("authority", "expert"):
        parts.append(f"{person['level']} on {topic} (score {person['score']:.1f})")
    role = _ROLE.get(person["community"], person["community"])
    if person["last_90_days"]:
        parts.append(f"{role} with {person['last_90_days']} contributions on it in the last "
                     "90 days")
    else:
        parts.append(f"{role} with {person['contributions']} contributions on it")
    if person.get("bridge", 0) > 0:
        parts.append("connects communities on it")
    return "; ".join(parts)


def _rank(person: dict[str, Any]) -> tuple[Any, ...]:
    return (-_LEVEL_RANK.get(person["level"], 0), -person["last_90_days"], -person["score"],
            person["person_id"])


def choose_group(candidates: Iterable[dict[str, Any]], topic: str, size: int,
                 now: datetime) -> list[dict[str, Any]]:
    """Return up to `size` people, each with `community` and a `reason`."""
    recent_since = now - timedelta(days=STALE_DAYS)
    by_community: dict[str, list[dict[str, Any]]] = {}
    stale: list[dict[str, Any]] = []
    for person in sorted(candidates, key=_rank):
        if person["last_active"] is not None and person["last_active"] >= recent_since:
            by_community.setdefault(person["community"], []).append(person)
        else:
            stale.append(person)
    chosen: list[dict[str, Any]] = []
    queues = [by_community[c] for c in sorted(by_community)]
    while len(chosen) < size and any(queues):
        for queue in queues:
            if queue and len(chosen) < size:
                chosen.append(queue.pop(0))
    chosen += stale[:size - len(chosen)]
    return [{"person_id": p["person_id"], "display_name": p["display_name"],
             "community": p["community"], "level": p["level"],
             "score": round(float(p["score"]), 4), "recent_contributions": p["last_90_days"],
             "reason": _reason(p, topic)} for p in chosen]
