"""What a person decided about their own topics ("my profile"): a topic hidden from
everyone, hidden from the external and partner audiences, or confirmed. Pure functions,
no I/O: the store keeps the decisions, the pipeline applies them when it recomputes a
profile, the search when it finds people.

A hidden topic is not scored at all in the scopes it is hidden from (its profile rows are
never written), so the profile, the badge, the card, the topic lists and the levels of
the others on it all lack it; a confirmed topic is scored as before and shown with a mark
(the relevance benchmark has not measured it as a ranking signal, so it is none).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["CONFIRMED", "HIDDEN_ALL", "HIDDEN_EXTERNAL", "STATES", "hidden_in",
           "hiding_states", "without_hidden"]

HIDDEN_ALL = "hidden_all"
HIDDEN_EXTERNAL = "hidden_external"
CONFIRMED = "confirmed"
STATES = (HIDDEN_ALL, HIDDEN_EXTERNAL, CONFIRMED)


def hiding_states(scope: str) -> tuple[str, ...]:
    """The states that keep a topic out of a reputation scope (`all`: the internal view,
    `public`: the external and partner views)."""
    return (HIDDEN_ALL,) if scope == "all" else (HIDDEN_ALL, HIDDEN_EXTERNAL)


def hidden_in(state: str | None, scope: str) -> bool:
    """Whether a topic in `state` is kept out of `scope`."""
    return state in hiding_states(scope)


def without_hidden(rows: Iterable[dict[str, Any]],
                   states: Mapping[int, Mapping[str, str]]) -> list[dict[str, Any]]:
    """The profile rows (person_id, scope, topic, …) their people have not hidden;
    `states`: person -> topic -> state."""
    return [row for row in rows
            if not hidden_in(states.get(int(row["person_id"]), {}).get(str(row["topic"])),
                             str(row["scope"]))]
