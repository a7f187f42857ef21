"""The connection map's layout on generated graph pages: readable whatever the size."""

from __future__ import annotations

import random
from typing import Any

from service.web.graphmap import (
    HEIGHT,
    LABELS,
    MARGIN,
    MAX_NODES,
    WIDTH,
    home_community,
    interactions,
    layout_map,
)

COMMUNITY_SETS = (["internal"], ["external"], ["partner"], ["external", "internal"],
                  ["external", "partner"], ["external", "internal", "partner"])


def _page(people: int, edges: int, seed: int = 3) -> dict[str, Any]:
    """A graph page as `graph_page` returns it: a few hubs, many weak ties, and one weak
    bridge (the person with the highest id)."""
    rng = random.Random(seed)
    tally: dict[tuple[int, int], float] = {}
    while len(tally) < edges:
        a = rng.randrange(people) if rng.random() < 0.5 else rng.randrange(5)
        b = rng.randrange(people)
        if a != b:
            tally[(min(a, b), max(a, b))] = round(rng.uniform(0.5, 3.0) * (8 if a < 5 else 1), 2)
    bridge = people - 1
    tally[(0, bridge)] = 0.5
    strength: dict[int, float] = {}
    for (a, b), weight in tally.items():
        strength[a] = strength.get(a, 0.0) + weight
        strength[b] = strength.get(b, 0.0) + weight
    nodes = [{"id": p, "display_name": f"Person {p}", "communities": COMMUNITY_SETS[p % 6],
              "strength": round(s, 2), "bridge": 0.3 if p == bridge else 0.0}
             for p, s in sorted(strength.items())]
    return {"topic": "claims", "total": len(tally), "nodes": nodes,
            "edges": [{"source": a, "target": b, "weight": w, "replies": 1, "likes": 0,
                       "accepts": 0, "threads": 2, "last_at": "2026-04-01T00:00:00+00:00"}
                      for (a, b), w in sorted(tally.items(), key=lambda item: -item[1])],
            "bridges": [{"person_id": bridge, "display_name": f"Person {bridge}",
                         "communities": COMMUNITY_SETS[bridge % 6], "score": 0.3}]}


def test_a_big_page_keeps_the_strongest_people_and_the_bridges_inside_the_picture() -> None:
    page = _page(people=400, edges=200)
    drawn = layout_map(page)
    ids = {node.id for node in drawn.nodes}
    assert 10 < len(ids) <= MAX_NODES
    assert 399 in ids and next(n for n in drawn.nodes if n.id == 399).is_bridge
    assert {0, 1, 2, 3, 4} <= ids  # the hubs
    assert all(edge.source.id in ids and edge.target.id in ids for edge in drawn.edges)
    assert all(MARGIN <= node.x <= WIDTH - MARGIN and MARGIN <= node.y <= HEIGHT - MARGIN
               and node.outer_radius < MARGIN for node in drawn.nodes)
    assert drawn.total_edges == 201


def test_the_layout_is_the_same_on_every_load() -> None:
    first, second = layout_map(_page(120, 150)), layout_map(_page(120, 150))
    assert [(n.id, n.x, n.y) for n in first.nodes] == [(n.id, n.x, n.y) for n in second.nodes]


def test_edges_and_people_grow_with_their_weight() -> None:
    drawn = layout_map(_page(120, 150))
    edges = sorted(drawn.edges, key=lambda e: e.weight)
    assert edges[0].width < edges[-1].width and edges[0].opacity < edges[-1].opacity
    nodes = sorted(drawn.nodes, key=lambda n: n.strength)
    assert nodes[0].radius < nodes[-1].radius
    assert drawn.strongest(5) == sorted(drawn.edges, key=lambda e: -e.weight)[:5]


def test_names_on_the_map_never_overlap_and_the_bridge_is_named() -> None:
    drawn = layout_map(_page(400, 200))
    boxes = [n.label_box(n.label_left) for n in drawn.nodes if n.labelled]
    assert 0 < len(boxes) <= LABELS
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
        assert 0 <= a[0] and a[2] <= WIDTH
    assert next(n for n in drawn.nodes if n.id == 399).labelled


def test_a_person_is_drawn_in_their_home_community_with_rings_for_the_others() -> None:
    assert home_community(["external", "internal", "partner"]) == "internal"
    assert home_community(["external", "partner"]) == "partner"
    assert home_community(["external"]) == "external"
    drawn = layout_map(_page(60, 80))
    everywhere = next(n for n in drawn.nodes if len(n.communities) == 3)
    assert [c for c, _ in everywhere.rings] == ["external", "partner"]
    radii = [r for _, r in everywhere.rings]
    assert radii == sorted(radii, reverse=True) and min(radii) > everywhere.radius
    assert drawn.communities == ["internal", "partner", "external"]


def test_an_empty_page_is_an_empty_map() -> None:
    drawn = layout_map({"topic": "x", "total": 0, "nodes": [], "edges": [], "bridges": []})
    assert drawn.nodes == [] and drawn.edges == [] and drawn.strongest(3) == []


def test_what_passed_names_only_what_happened() -> None:
    assert interactions(3, 0, 1, 2) == "3 replies, 1 accepted, 2 shared threads"
    assert interactions(0, 0, 0, 0) == ""
