"""The connection map's edges, aggregated with numpy: every interaction and shared thread,
in each scope, on the whole map and on each of its topics, summed per pair of people;
then the strongest edges of each map, the people on them and the bridges.

Summing in Python cost a dict update per (scope, topic, pair) — about 7 M at a million
contributions, most of the precompute; here the events are collected once (one entry per
interaction or shared thread, with the set of topics it was on), expanded to one row per
(scope, topic) by index arithmetic, and grouped by sorting.

Kept per map: the `per_topic` strongest edges; the whole map (topic "") also keeps each
person's `per_person` strongest (who they work with most). Bridges are computed on the
`per_topic` strongest edges of each map (`network.bridge_scores`).
"""

from __future__ import annotations

from array import array
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from service.insight.network import KIND_WEIGHTS, bridge_scores

__all__ = ["ALL_TOPICS", "AUDIENCES", "EdgeEvents", "graph_rows"]

ALL_TOPICS = ""
SCOPES = ("all", "public")
AUDIENCES = ("internal", "external", "partner")
_KINDS = ("reply", "like", "accept", "thread")
_KIND_CODE = {kind: code for code, kind in enumerate(_KINDS)}
_AUDIENCE_CODE = {audience: code for code, audience in enumerate(AUDIENCES)}
#: the communities a bit mask of audiences names
_COMMUNITIES = [",".join(sorted(a for bit, a in enumerate(AUDIENCES) if mask >> bit & 1))
                for mask in range(1 << len(AUDIENCES))]

Ints = npt.NDArray[np.int64]


class EdgeEvents:
    """What passed between two people, one entry per interaction or shared thread: the
    pair, the kind, its weight, when, in which audience, on which topics, and whether
    the public scope counts it."""

    def __init__(self) -> None:
        self.a, self.b, self.topic_set = array("q"), array("q"), array("q")
        self.kind, self.audience, self.public = array("b"), array("b"), array("b")
        self.weight, self.at = array("d"), array("d")
        self.topic_sets: dict[frozenset[str], int] = {}

    def add(self, a: int, b: int, kind: str, at: datetime, audience: str,
            topics: frozenset[str], public: bool, weight: float | None = None) -> None:
        """Record one interaction (`kind` reply, like or accept) or shared thread."""
        topic_set = self.topic_sets.get(topics)
        if topic_set is None:
            topic_set = self.topic_sets[topics] = len(self.topic_sets)
        self.a.append(min(a, b))
        self.b.append(max(a, b))
        self.topic_set.append(topic_set)
        self.kind.append(_KIND_CODE[kind])
        self.audience.append(_AUDIENCE_CODE[audience])
        self.public.append(public)
        self.weight.append(KIND_WEIGHTS[kind] if weight is None else weight)
        self.at.append(at.timestamp())


def _expand(events: EdgeEvents) -> tuple[Ints, Ints, list[str]]:
    """One row per event, scope and topic (the whole map included): (map, event), where
    map = scope × topics + topic, and the topic names."""
    names = [ALL_TOPICS, *sorted({t for s in events.topic_sets for t in s})]
    number = {name: i for i, name in enumerate(names)}
    sets = [(0, *sorted(number[t] for t in s)) for s in events.topic_sets]
    lengths = np.array([len(s) for s in sets], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    flat = np.array([t for s in sets for t in s], dtype=np.int64)
    public = np.flatnonzero(np.frombuffer(events.public, dtype=np.int8))
    base = np.concatenate([np.arange(len(events.a), dtype=np.int64), public])
    scope = np.concatenate([np.zeros(len(events.a), np.int64), np.ones(len(public), np.int64)])
    topic_set = np.frombuffer(events.topic_set, dtype=np.int64)[base]
    counts = lengths[topic_set]
    row = np.repeat(np.arange(len(base), dtype=np.int64), counts)
    within = np.arange(len(row), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    topic = flat[offsets[topic_set[row]] + within]
    return scope[row] * len(names) + topic, base[row], names


class _Maps:
    """Every edge of every map, summed: arrays indexed by edge, sorted by map, then
    weight (strongest first), then pair."""

    def __init__(self, events: EdgeEvents) -> None:
        maps, event, self.names = _expand(events)
        a = np.frombuffer(events.a, dtype=np.int64)
        b = np.frombuffer(events.b, dtype=np.int64)
        self.people = int(max(a.max(), b.max())) + 1
        pairs, pair_of = np.unique(a * self.people + b, return_inverse=True)
        keys, edge_of = np.unique(maps * len(pairs) + pair_of[event], return_inverse=True)
        count = len(keys)
        kind = np.frombuffer(events.kind, dtype=np.int8)[event]
        weight = np.bincount(edge_of, np.frombuffer(events.weight)[event], count)
        tallies = [np.bincount(edge_of[kind == code], minlength=count) for code in range(4)]
        last = np.full(count, -np.inf)
        np.maximum.at(last, edge_of, np.frombuffer(events.at)[event])
        mask = np.zeros(count, np.int64)
        audience = np.frombuffer(events.audience, dtype=np.int8)[event].astype(np.int64)
        np.bitwise_or.at(mask, edge_of, np.left_shift(1, audience))
        map_of, pair = keys // len(pairs), pairs[keys % len(pairs)]
        first, second = pair // self.people, pair % self.people
        order = np.lexsort((second, first, -weight, map_of))
        self.map, self.a, self.b = map_of[order], first[order], second[order]
        self.weight, self.last, self.mask = weight[order], last[order], mask[order]
        self.tallies = [t[order] for t in tallies]
        self.rank = np.arange(count) - np.searchsorted(self.map, self.map)
        self._node_masks()

    def _node_masks(self) -> None:
        """Each (map, person)'s communities: the audiences of all their edges there."""
        keys = np.concatenate([self.node(self.a), self.node(self.b)])
        self.nodes, node_of = np.unique(keys, return_inverse=True)
        self.node_mask = np.zeros(len(self.nodes), np.int64)
        np.bitwise_or.at(self.node_mask, node_of, np.concatenate([self.mask, self.mask]))

    def node(self, person: Ints, maps: Ints | None = None) -> Ints:
        return (self.map if maps is None else maps) * self.people + person

    def communities(self, keys: Ints) -> list[str]:
        return [_COMMUNITIES[m] for m in self.node_mask[np.searchsorted(self.nodes, keys)]]

    def kept(self, per_topic: int, per_person: int) -> npt.NDArray[np.bool_]:
        """The edges kept: the strongest of each map, and on the whole maps each
        person's strongest (ranked among all their edges there, kept or not)."""
        kept = self.rank < per_topic
        whole = np.flatnonzero(self.map % len(self.names) == 0)
        ends = np.concatenate([self.node(self.a[whole], self.map[whole]),
                               self.node(self.b[whole], self.map[whole])])
        position = np.tile(np.arange(len(whole)), 2)  # `whole` is in rank order
        order = np.lexsort((position, ends))
        ranked = np.empty(len(ends), np.int64)
        ranked[order] = np.arange(len(ends)) - np.searchsorted(ends[order], ends[order])
        kept[whole] |= (ranked[:len(whole)] < per_person) | (ranked[len(whole):] < per_person)
        return kept


def _bridges(maps: _Maps, per_topic: int) -> dict[tuple[int, int], float]:
    """(map, person) -> bridge score, on each map's `per_topic` strongest edges."""
    strongest = np.flatnonzero(maps.rank < per_topic)
    starts = np.flatnonzero(np.diff(maps.map[strongest], prepend=-1))
    found: dict[tuple[int, int], float] = {}
    for part in np.split(strongest, starts[1:]):
        map_id = int(maps.map[part[0]])
        a, b = maps.a[part], maps.b[part]
        people = np.unique(np.concatenate([a, b]))
        communities = {p: frozenset(c.split(",")) for p, c in zip(
            people.tolist(), maps.communities(maps.node(people, np.full_like(people, map_id))),
            strict=True)}
        scores = bridge_scores(zip(a.tolist(), b.tolist(), maps.weight[part].tolist(),
                                   strict=True), communities, SCOPES[map_id // len(maps.names)])
        found.update(((map_id, person), score) for person, score in scores.items())
    return found


def graph_rows(events: EdgeEvents, per_topic: int, per_person: int
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of insight_edges (each map's kept edges) and insight_nodes (everyone on a kept
    edge, with communities, strength and bridge score)."""
    if not events.a:
        return [], []
    maps = _Maps(events)
    keep = np.flatnonzero(maps.kept(per_topic, per_person))
    topics = len(maps.names)
    columns = [maps.map[keep], maps.a[keep], maps.b[keep], maps.weight[keep].round(4),
               *(t[keep] for t in maps.tallies), maps.last[keep]]
    edge_rows = [{"scope": SCOPES[m // topics], "topic": maps.names[m % topics],
                  "person_a": a, "person_b": b, "weight": w, "replies": r, "likes": li,
                  "accepts": ac, "threads": th, "last_at": datetime.fromtimestamp(at, UTC)}
                 for m, a, b, w, r, li, ac, th, at in zip(*(c.tolist() for c in columns),
                                                          strict=True)]
    ends = np.concatenate([maps.node(maps.a[keep], maps.map[keep]),
                           maps.node(maps.b[keep], maps.map[keep])])
    nodes, node_of = np.unique(ends, return_inverse=True)
    strength = np.bincount(node_of, np.concatenate([maps.weight[keep]] * 2)).round(4)
    bridges = _bridges(maps, per_topic)
    node_rows = []
    for key, communities, total in zip(nodes.tolist(), maps.communities(nodes),
                                       strength.tolist(), strict=True):
        map_id, person = divmod(key, maps.people)
        node_rows.append({"scope": SCOPES[map_id // topics], "topic": maps.names[map_id % topics],
                          "person_id": person, "communities": communities,
                          "strength": total, "bridge": bridges.get((map_id, person), 0.0)})
    return edge_rows, node_rows
