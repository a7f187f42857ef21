"""The connection map between people: edge weights, communities and bridges. Pure.

An edge joins two people (never two accounts: identities are resolved first) and sums
what passed between them: a reply 1.0, an accepted answer 2.0, a like 0.5, and sharing a
thread 1/(n-1) for a thread of n people (threads of more than `MAX_THREAD_PEOPLE` people
say little about who works with whom and are left out).

Bridges are the people on the shortest paths between two communities: betweenness
centrality restricted to paths from one community to the other (networkx
`betweenness_centrality_subset`, Brandes' algorithm), on the topic's strongest edges.
Internal callers see bridges between internal and external/partner people; the public
map has no internal side, so its bridges join external and partner people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import networkx as nx

__all__ = ["KIND_WEIGHTS", "MAX_THREAD_PEOPLE", "bridge_scores"]

KIND_WEIGHTS = {"reply": 1.0, "accept": 2.0, "like": 0.5}
MAX_THREAD_PEOPLE = 20
#: at most this many people of the first side start the shortest paths (its strongest):
#: an approximation of the full betweenness (the paths from the weakest people, whose
#: few edges rarely pass through anyone but their one contact, are left out) that keeps
#: a big topic's bridges to ~10 ms; 40 made the bridges a quarter of the precompute
MAX_SOURCES = 12


@dataclass(slots=True)
class _Sides:
    first: set[int] = field(default_factory=set)
    second: set[int] = field(default_factory=set)


def _sides(communities: Mapping[int, frozenset[str]], scope: str) -> _Sides:
    sides = _Sides()
    for person, found in communities.items():
        if scope == "all":
            if "internal" in found:
                sides.first.add(person)
            if found & {"external", "partner"}:
                sides.second.add(person)
        else:
            if "external" in found:
                sides.first.add(person)
            if "partner" in found:
                sides.second.add(person)
    return sides


def bridge_scores(edges: Iterable[tuple[int, int, float]],
                  communities: Mapping[int, frozenset[str]], scope: str) -> dict[int, float]:
    """Each person's share of the shortest paths between the two sides of the map
    (0 to 1; 0 for people on no such path). `edges` are (a, b, weight)."""
    graph = nx.Graph()
    strength: dict[int, float] = {}
    for a, b, weight in edges:
        graph.add_edge(a, b)
        strength[a] = strength.get(a, 0.0) + weight
        strength[b] = strength.get(b, 0.0) + weight
    sides = _sides({p: c for p, c in communities.items() if p in strength}, scope)
    if not sides.first or not sides.second:
        return {}
    sources = sorted(sides.first, key=lambda p: (-strength[p], p))[:MAX_SOURCES]
    targets = sorted(sides.second)
    scores = nx.betweenness_centrality_subset(graph, sources, targets, normalized=False)
    pairs = len(sources) * len(targets)
    return {person: round(value / pairs, 6) for person, value in scores.items() if value > 0}
