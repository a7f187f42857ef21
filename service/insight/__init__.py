"""Community insight: trending topics and their bursts, the connection map between people
and its bridges, hot groups to convene, each person's recent topics.

Heavy metrics are computed as a whole after a sync or a rebuild (`precompute.refresh`,
called by the pipeline) into the `insight_*` tables, so the API only reads indexed rows.
`refresh_if_due` keeps a busy sync loop from recomputing too often: it recomputes when
at least `DUE_FACTOR` times the last computation's duration has passed since it finished,
and always when that took under `ALWAYS_DUE_SECONDS` (a small store is always up to date;
a million contributions, about 70 s of computation, at most every twelve minutes).

- `bursts`: burst detection (robust z-score over a rolling median/MAD baseline; the
  module says why)
- `activity`: weekly activity per topic and audience, each person's recent topics (numpy)
- `events`: who interacted or shared a thread with whom, as columns
- `edges`: summing the edges of every map with numpy, keeping the strongest
- `network`: edge weights and bridges (networkx, betweenness between communities)
- `arrays`: the numpy building blocks (times, weeks, topic sets)
- `groups`: choosing a group across communities, with a reason for each person
- `precompute`: reading the store and writing the tables; `store`, `queries`: SQL
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from service.insight import precompute
from service.insight import store as insight_store
from service.reputation.engine import ReputationSettings

__all__ = ["ALWAYS_DUE_SECONDS", "DUE_FACTOR", "prepare", "refresh", "refresh_if_due", "write"]

DUE_FACTOR = 10.0
#: a computation faster than this is always due (a small store is always up to date)
ALWAYS_DUE_SECONDS = 2.0


prepare = precompute.prepare
write = precompute.write


def refresh(engine: Engine, settings: ReputationSettings, clock: Callable[[], datetime],
            topics: Mapping[int, frozenset[str]] | None = None) -> float:
    """Recompute every insight table; return the seconds it took. `topics`: each live
    contribution's topics when the caller has just computed them (a rebuild)."""
    return precompute.refresh(engine, settings, clock, topics)


def refresh_if_due(engine: Engine, settings: ReputationSettings,
                   clock: Callable[[], datetime], cheap_only: bool = False) -> float | None:
    """Recompute unless the last computation is more recent than `DUE_FACTOR` times its
    duration; return the seconds it took, or None when it was not due. `cheap_only` (an
    API request waiting): recompute only when the last computation took under
    `ALWAYS_DUE_SECONDS`."""
    with engine.connect() as conn:
        state = insight_store.last_state(conn)
    if state is not None:
        computed_at, _, seconds = state
        if cheap_only and seconds >= ALWAYS_DUE_SECONDS:
            return None
        wait = timedelta(seconds=seconds * DUE_FACTOR)
        if seconds >= ALWAYS_DUE_SECONDS and datetime.now(UTC) - computed_at < wait:
            return None
    return refresh(engine, settings, clock)
