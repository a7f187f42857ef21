"""The connection map's geometry: people placed by a force-directed layout for a
server-rendered inline SVG (no graph library in the browser, no script: it draws with
JavaScript off and on a slow laptop).

The map keeps the `MAX_NODES` strongest people of the page it is given (the bridges
first), so it stays readable whatever the store's size. The layout is networkx's
`spring_layout` (Fruchterman-Reingold) with a fixed seed: the same map looks the same on
every load. A person's colour is their home community: internal when they contribute
internally (an employee), else partner, else external; each further community they are
active in is a ring around them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

__all__ = ["ConnectionMap", "MapEdge", "MapNode", "home_community", "interactions",
           "layout_map"]

WIDTH, HEIGHT, MARGIN = 960, 600, 48
MAX_NODES = 40
#: the strongest people carry a name on the map; everyone has it as a tooltip
LABELS = 14
MIN_RADIUS, MAX_RADIUS, RING = 5.0, 14.0, 3.0
SEED = 7
#: a name's width per character at the map's 12px labels, for keeping names apart
CHAR_WIDTH = 6.8
#: the layout's preferred distance between people, times 1/sqrt(people): above 1 spreads
#: the map's dense middle out so names stay readable
SPREAD = 2.0
COMMUNITY_ORDER = ("internal", "partner", "external")


def home_community(communities: list[str]) -> str:
    """The community a person is drawn in: the first of internal, partner, external."""
    return next((c for c in COMMUNITY_ORDER if c in communities), "external")


def interactions(replies: int, likes: int, accepts: int, threads: int) -> str:
    """What passed between two people, e.g. "3 replies, 1 accepted, 2 shared threads"."""
    return ", ".join(f"{count} {noun}" for count, noun in (
        (replies, "replies"), (likes, "likes"), (accepts, "accepted"),
        (threads, "shared threads")) if count)


@dataclass(slots=True)
class MapNode:
    id: int
    name: str
    communities: list[str]
    strength: float
    bridge: float
    x: float = 0.0
    y: float = 0.0
    radius: float = MIN_RADIUS
    labelled: bool = False
    label_left: bool = False
    #: among the map's listed bridges (highlighted)
    is_bridge: bool = False

    @property
    def home(self) -> str:
        return home_community(self.communities)

    @property
    def rings(self) -> list[tuple[str, float]]:
        """The person's other communities, each a ring (community, radius), outermost
        first so that the inner ones draw on top."""
        others = [c for c in COMMUNITY_ORDER if c in self.communities and c != self.home]
        rings = [(c, self.radius + RING * (i + 1)) for i, c in enumerate(others)]
        return rings[::-1]

    @property
    def outer_radius(self) -> float:
        return self.radius + RING * (len(self.rings) + 1)

    def label_box(self, left: bool) -> tuple[float, float, float, float]:
        """Where the name would sit (x0, y0, x1, y1), right or left of the circle."""
        width = CHAR_WIDTH * len(self.name)
        x = self.x - self.outer_radius - 3 - width if left else self.x + self.outer_radius + 3
        return (x, self.y - 10, x + width, self.y + 5)

    @property
    def description(self) -> str:
        text = f"{self.name}: {', '.join(self.communities)}; interaction weight " \
               f"{self.strength:.1f}"
        return text + ("; a bridge between communities" if self.is_bridge else "")


@dataclass(slots=True)
class MapEdge:
    source: MapNode
    target: MapNode
    weight: float
    replies: int
    likes: int
    accepts: int
    threads: int
    width: float = 1.0
    opacity: float = 0.3

    @property
    def passed(self) -> str:
        return interactions(self.replies, self.likes, self.accepts, self.threads)

    @property
    def description(self) -> str:
        return f"{self.source.name} and {self.target.name}: weight {self.weight:.1f}" + \
            (f" ({self.passed})" if self.passed else "")


@dataclass(slots=True)
class ConnectionMap:
    nodes: list[MapNode]
    edges: list[MapEdge]
    bridges: list[dict[str, Any]]
    total_edges: int
    width: int = WIDTH
    height: int = HEIGHT
    communities: list[str] = field(default_factory=list)

    def strongest(self, count: int) -> list[MapEdge]:
        """The map's `count` strongest connections, for the table beside it."""
        return sorted(self.edges, key=lambda e: -e.weight)[:count]


def _chosen(page: Mapping[str, Any], max_nodes: int) -> dict[int, MapNode]:
    bridges = {item["person_id"] for item in page["bridges"]}
    nodes = sorted(page["nodes"], key=lambda n: (n["id"] not in bridges, -n["strength"],
                                                 n["id"]))[:max_nodes]
    return {n["id"]: MapNode(n["id"], n["display_name"], list(n["communities"]),
                             float(n["strength"]), float(n["bridge"]),
                             is_bridge=n["id"] in bridges) for n in nodes}


def _place(nodes: dict[int, MapNode], edges: list[MapEdge]) -> None:
    graph = nx.Graph()
    graph.add_nodes_from(sorted(nodes))
    # log weights: a hub's strongest ties would otherwise pull everyone onto it
    graph.add_weighted_edges_from((e.source.id, e.target.id, math.log1p(e.weight))
                                  for e in edges)
    spread = SPREAD / math.sqrt(max(len(nodes), 1))
    positions = nx.spring_layout(graph, k=spread, weight="weight", seed=SEED, iterations=100)
    xs = [float(p[0]) for p in positions.values()]
    ys = [float(p[1]) for p in positions.values()]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    for person, (x, y) in positions.items():
        node = nodes[person]
        node.x = round(MARGIN + (float(x) - min(xs)) / span_x * (WIDTH - 2 * MARGIN), 1)
        node.y = round(MARGIN + (float(y) - min(ys)) / span_y * (HEIGHT - 2 * MARGIN), 1)


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _label(ranked: list[MapNode]) -> None:
    """Name the bridges and the strongest people (at most `LABELS` in all), each right of
    its circle, else left, else not at all when both would cover a name already placed
    or another person (the name stays in the circle's tooltip and the tables)."""
    circles = {n.id: (n.x - n.outer_radius, n.y - n.outer_radius, n.x + n.outer_radius,
                      n.y + n.outer_radius) for n in ranked}
    placed: list[tuple[float, float, float, float]] = []
    for node in ranked:
        if len(placed) >= LABELS:
            return
        taken = placed + [box for person, box in circles.items() if person != node.id]
        for left in (node.x > WIDTH * 0.75, node.x <= WIDTH * 0.75):
            box = node.label_box(left)
            if box[0] >= 0 and box[2] <= WIDTH and not any(_overlaps(box, t) for t in taken):
                node.labelled, node.label_left = True, left
                placed.append(box)
                break


def layout_map(page: Mapping[str, Any], max_nodes: int = MAX_NODES) -> ConnectionMap:
    """Lay out a page of the connection map (`service.insight.queries.graph_page`): its
    strongest people (at most `max_nodes`, bridges first) and the edges between them,
    edge width and opacity by weight, node size by interaction weight."""
    nodes = _chosen(page, max_nodes)
    edges = [MapEdge(nodes[e["source"]], nodes[e["target"]], float(e["weight"]),
                     e["replies"], e["likes"], e["accepts"], e["threads"])
             for e in page["edges"] if e["source"] in nodes and e["target"] in nodes]
    linked = {e.source.id for e in edges} | {e.target.id for e in edges}
    nodes = {person: node for person, node in nodes.items() if person in linked}
    if nodes:
        _place(nodes, edges)
    heaviest = max((e.weight for e in edges), default=1.0)
    for edge in edges:
        share = math.sqrt(edge.weight / heaviest)
        edge.width, edge.opacity = round(0.75 + 5 * share, 2), round(0.2 + 0.6 * share, 2)
    strongest = max((n.strength for n in nodes.values()), default=1.0) or 1.0
    for node in nodes.values():
        node.radius = round(MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS)
                            * math.sqrt(node.strength / strongest), 1)
    _label(sorted(nodes.values(), key=lambda n: (not n.is_bridge, -n.strength)))
    placed = sorted(nodes.values(), key=lambda n: n.strength)  # the strongest on top
    present = {c for n in placed for c in n.communities}
    return ConnectionMap(placed, edges, list(page["bridges"]), int(page["total"]),
                         communities=[c for c in COMMUNITY_ORDER if c in present])
