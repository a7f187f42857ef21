"""Computing the insight tables from the store, as a whole, after a sync or a rebuild.

Topics are exactly the reputation engine's (`facts_from_row`: tags and text through the
synonym map): `rebuild` hands over the ones it has just computed for the profiles; after
a sync they are computed here. The live contributions (no text: the topics are known)
and the interactions are read as columns; `activity` counts the weekly activity per
topic and audience, its bursts and each person's recent topics; `events` lists who
interacted or shared a thread with whom, and `edges` sums that per map and finds the
bridges. Everything is written in one transaction, so readers see the old tables or the
new, never a mix.

Scope `all` counts everything (internal callers); scope `public` counts only external
and partner contributions and interactions, and leaves out people who opted out of
external views.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from service.batch import gc_paused
from service.insight import activity, store
from service.insight.arrays import TopicSets
from service.insight.edges import graph_rows
from service.insight.events import EdgeEvents, interaction_events, thread_events
from service.insight.store import Rows
from service.reputation.engine import ReputationSettings, facts_from_row
from service.store.profiles import iter_scoring_rows
from service.store.schema import people

__all__ = ["EDGES_PER_PERSON", "EDGES_PER_TOPIC", "Prepared", "compute", "prepare",
           "refresh", "topics_by_contribution", "write"]

#: the strongest edges kept per topic; the whole map (topic "") keeps each person's
#: strongest `EDGES_PER_PERSON` (who they work with most) and the strongest overall
EDGES_PER_TOPIC = 1000
EDGES_PER_PERSON = 10


def topics_by_contribution(conn: Connection, settings: ReputationSettings
                           ) -> dict[int, frozenset[str]]:
    """Each live contribution's topics, as the reputation engine assigns them."""
    return {row.id: facts_from_row(row, settings).topics for row in iter_scoring_rows(conn)}


def compute(conn: Connection, topics_of: Mapping[int, frozenset[str]], as_of: datetime
            ) -> dict[str, Rows]:
    """Read the store and return the rows of every insight table as of `as_of`, with
    these topics per contribution (`topics_by_contribution`)."""
    opted_out = np.array(sorted(conn.execute(
        select(people.c.id).where(people.c.opt_out_external.is_(True))).scalars()),
        dtype=np.int64)
    sets = TopicSets()
    found = activity.Contributions.of(store.read_contributions(conn), topics_of, sets,
                                      opted_out)
    parts = [interaction_events(store.read_interactions(conn), topics_of, sets, opted_out)]
    sets.sort_names()
    if len(found.thread):
        parts.append(thread_events(found, sets, opted_out))
    edges, nodes, maps = graph_rows(EdgeEvents.joined(parts), sets, EDGES_PER_TOPIC,
                                    EDGES_PER_PERSON)
    weeks = activity.weeks(found, sets)
    return {"weeks": weeks, "bursts": activity.bursts(weeks, as_of), "edges": edges,
            "nodes": nodes, "person_topics": activity.person_topics(found, sets, as_of),
            "maps": maps}


@dataclass
class Prepared:
    """The insight tables computed and not yet written."""

    as_of: datetime
    tables: dict[str, Rows]
    started: float


def prepare(engine: Engine, settings: ReputationSettings, clock: Callable[[], datetime],
            topics: Mapping[int, frozenset[str]] | None = None) -> Prepared:
    """Compute every insight table as of `clock()` (reads only). `topics`: each live
    contribution's topics when the caller has just computed them (a rebuild), else they
    are computed here."""
    started = time.perf_counter()
    as_of = clock()
    with engine.connect() as conn:
        tables = compute(conn, topics if topics is not None
                         else topics_by_contribution(conn, settings), as_of)
    return Prepared(as_of, tables, started)


def write(engine: Engine, prepared: Prepared) -> float:
    """Replace the insight tables with `prepared` in one transaction; return the seconds
    since its computation started."""
    with engine.begin() as conn:
        store.replace_all(conn, prepared.tables)
        seconds = time.perf_counter() - prepared.started
        store.record_state(conn, prepared.as_of, seconds)
    return seconds


def refresh(engine: Engine, settings: ReputationSettings, clock: Callable[[], datetime],
            topics: Mapping[int, frozenset[str]] | None = None) -> float:
    """Recompute every insight table as of `clock()`, in one transaction; return the
    seconds it took."""
    with gc_paused():
        return write(engine, prepare(engine, settings, clock, topics))
