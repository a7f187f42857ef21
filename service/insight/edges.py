"""The connection map's edges, aggregated with numpy: every interaction and shared thread
(`events`), in each scope, on the whole map and on each of its topics, summed per pair of
people; then the strongest edges of each map, the people on them and the bridges.

The events are expanded to one row per (scope, topic) by index arithmetic
(`TopicSets.expand`) and grouped by sorting.

Kept per map: the `per_topic` strongest edges; the whole map (topic "") also keeps each
person's `per_person` strongest (who they work with most). Bridges are computed on the
`per_topic` strongest edges of each map (`network.bridge_scores`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from service.insight.activity import SCOPES
from service.insight.arrays import AUDIENCES, Ints, TopicSets
from service.insight.events import KINDS, EdgeEvents
from service.insight.network import bridge_scores
from service.insight.store import Rows

__all__ = ["graph_rows"]

#: the communities a bit mask of audiences names
_COMMUNITIES = [",".join(sorted(a for bit, a in enumerate(AUDIENCES) if mask >> bit & 1))
                for mask in range(1 << len(AUDIENCES))]


def _expand(events: EdgeEvents, sets: TopicSets) -> tuple[Ints, Ints]:
    """One row per event, scope and topic (the whole map included): (map, event), where
    map = scope × topics + topic."""
    public = np.flatnonzero(events.public)
    base = np.concatenate([np.arange(len(events), dtype=np.int64), public])
    scope = np.repeat(np.arange(2, dtype=np.int64), [len(events), len(public)])
    row, topic = sets.expand(events.topic_set[base], whole=True)
    return scope[row] * len(sets.names) + topic, base[row]


class _Maps:
    """Every edge of every map, summed: arrays indexed by edge, sorted by map, then
    weight (strongest first), then pair."""

    def __init__(self, events: EdgeEvents, sets: TopicSets) -> None:
        self.names = sets.names
        maps, event = _expand(events, sets)
        self.people = int(max(events.a.max(), events.b.max())) + 1
        pairs, pair_of = np.unique(events.a * self.people + events.b, return_inverse=True)
        keys, edge_of = np.unique(maps * len(pairs) + pair_of[event], return_inverse=True)
        count = len(keys)
        kind = events.kind[event]
        weight = np.bincount(edge_of, events.weight[event], count)
        tallies = [np.bincount(edge_of[kind == code], minlength=count)
                   for code in range(len(KINDS))]
        last = np.full(count, np.iinfo(np.int64).min)
        np.maximum.at(last, edge_of, events.at[event])
        mask = np.zeros(count, np.int64)
        np.bitwise_or.at(mask, edge_of, np.left_shift(1, events.audience[event]))
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


def graph_rows(events: EdgeEvents, sets: TopicSets, per_topic: int, per_person: int
               ) -> tuple[Rows, Rows, Rows]:
    """Rows of insight_edges (each map's kept edges), insight_nodes (everyone on a kept
    edge, with communities, strength and bridge score) and insight_maps (each map's
    number of kept edges)."""
    if not len(events):
        return Rows({}), Rows({}), Rows({})
    maps = _Maps(events, sets)
    keep = np.flatnonzero(maps.kept(per_topic, per_person))  # strongest first
    ends = np.concatenate([maps.node(maps.a[keep], maps.map[keep]),
                           maps.node(maps.b[keep], maps.map[keep])])
    nodes, node_of = np.unique(ends, return_inverse=True)
    strength = np.bincount(node_of, np.concatenate([maps.weight[keep]] * 2)).round(4)
    bridges = _bridges(maps, per_topic)
    node_map, person = nodes // maps.people, nodes % maps.people
    # the edges in the order of the table's key, which is cheapest to insert
    keep = keep[np.lexsort((maps.b[keep], maps.a[keep], maps.map[keep]))]
    edge_map = maps.map[keep]
    counted, counts = np.unique(edge_map, return_counts=True)
    return (Rows({**_map_columns(edge_map, maps.names), "person_a": maps.a[keep],
                  "person_b": maps.b[keep], "weight": maps.weight[keep].round(4),
                  **{name: tally[keep] for name, tally in zip(
                      ("replies", "likes", "accepts", "threads"), maps.tallies, strict=True)},
                  "last_at": maps.last[keep].astype("datetime64[us]")}),
            Rows({**_map_columns(node_map, maps.names), "person_id": person,
                  "communities": maps.communities(nodes), "strength": strength,
                  "bridge": [bridges.get(key, 0.0) for key in zip(
                      node_map.tolist(), person.tolist(), strict=True)]}),
            Rows({**_map_columns(counted, maps.names), "edges": counts}))


def _map_columns(map_ids: Ints, names: list[str]) -> dict[str, npt.NDArray[np.object_]]:
    return {"scope": np.array(SCOPES, dtype=object)[map_ids // len(names)],
            "topic": np.array(names, dtype=object)[map_ids % len(names)]}
