"""Levels from the score's percentile within a topic.

Within one topic (and scope), people are ranked by score: the top 5% are `authority`,
the rest of the top 20% `expert`, everyone else `contributor`. A level above contributor
also needs a minimum score, so that the only two people in a tiny topic are not
authorities on one comment.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LEVELS", "assign_levels"]

LEVELS = ("contributor", "expert", "authority")
_BANDS = (("authority", 0.05, 8.0), ("expert", 0.20, 3.0))


def assign_levels(scores: Mapping[int, float]) -> dict[int, str]:
    """Return person id -> level for the people scored on one topic."""
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    total = len(ranked)
    levels: dict[int, str] = {}
    for index, (person_id, score) in enumerate(ranked):
        top_fraction = (index + 1) / total
        level = "contributor"
        for name, fraction, minimum in _BANDS:
            if (top_fraction <= fraction or index == 0) and score >= minimum:
                level = name
                break
        levels[person_id] = level
    return levels
