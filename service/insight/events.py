"""What passed between two people, as columns with one entry per interaction (reply,
like, accepted answer) or shared thread: the pair, the kind, its weight, when, in which
audience, on which topic set, and whether the public scope counts it. `edges` sums them
per map.

Interactions come first, in the order the store returns them, then each thread's pairs
(threads in order of first sight, each one's people ascending): the order the edges'
weights are summed in, kept from the Python pass this replaced so the sums are the same
to the last bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from service.insight.activity import Contributions
from service.insight.arrays import AUDIENCES, Ints, TopicSets, micros
from service.insight.network import KIND_WEIGHTS, MAX_THREAD_PEOPLE

__all__ = ["KINDS", "EdgeEvents", "interaction_events", "thread_events"]

KINDS = ("reply", "like", "accept", "thread")
_NO_TOPICS: frozenset[str] = frozenset()


@dataclass
class EdgeEvents:
    """One entry per interaction or shared thread; `a` < `b`, `at` in µs, `kind` and
    `audience` indexes in `KINDS` and `AUDIENCES`."""

    a: Ints
    b: Ints
    kind: Ints
    weight: npt.NDArray[np.float64]
    at: Ints
    audience: Ints
    topic_set: Ints
    public: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.a)

    @classmethod
    def empty(cls) -> EdgeEvents:
        none = np.zeros(0, np.int64)
        return cls(none, none, none, np.zeros(0), none, none, none, np.zeros(0, bool))

    @classmethod
    def joined(cls, parts: Sequence[EdgeEvents]) -> EdgeEvents:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts])
                     for f in fields(cls)))


def interaction_events(columns: Sequence[Sequence[Any]], topics_of: Mapping[int, frozenset[str]],
                       sets: TopicSets, opted_out: Ints) -> EdgeEvents:
    """Every interaction between two people, from `store.read_interactions` columns."""
    kinds, actors, targets, authors, audiences, times = columns
    actor = np.array(actors, dtype=np.int64)
    author = np.array(authors, dtype=np.int64)
    keep = np.flatnonzero(actor != author)  # liking one's own post connects nobody
    code = {name: i for i, name in enumerate((*KINDS, *AUDIENCES))}
    kind = np.array([code[k] for k in kinds], dtype=np.int64)[keep]
    audience = np.array([code[a] for a in audiences], dtype=np.int64)[keep] - len(KINDS)
    actor, author = actor[keep], author[keep]
    public = (audience != AUDIENCES.index("internal")) & ~np.isin(actor, opted_out) \
        & ~np.isin(author, opted_out)
    topic_set = np.array([sets.of(topics_of.get(t, _NO_TOPICS)) for t in targets],
                         dtype=np.int64)
    return EdgeEvents(np.minimum(actor, author), np.maximum(actor, author), kind,
                      np.array([KIND_WEIGHTS[k] for k in KINDS[:3]])[kind],
                      micros(times)[keep],
                      audience, topic_set[keep], public)


def _thread_topic_sets(found: Contributions, sets: TopicSets, threads: Ints) -> Ints:
    """The topic set of each of `threads` (ascending): the union of its contributions'
    topics."""
    row, topic = sets.expand(found.topic_set)
    width = len(sets.names)
    pairs = np.unique(found.thread[row] * width + topic)
    of_pair = pairs // width
    starts = np.searchsorted(of_pair, threads).tolist()
    ends = np.searchsorted(of_pair, threads, side="right").tolist()
    raw = (pairs % width).astype(np.int32).tobytes()
    known: dict[bytes, int] = {}
    numbered = np.empty(len(threads), np.int64)
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        key = raw[start * 4:end * 4]
        found_set = known.get(key)
        if found_set is None:
            found_set = known[key] = sets.of_numbers(
                tuple(np.frombuffer(key, dtype=np.int32).tolist()))
        numbered[i] = found_set
    return numbered


def thread_events(found: Contributions, sets: TopicSets, opted_out: Ints) -> EdgeEvents:
    """A pair per two people sharing a thread of 2 to `MAX_THREAD_PEOPLE` people,
    weighted 1/(n-1), at the thread's last contribution, in the audience of its first
    (after `sets.sort_names`)."""
    threads = int(found.thread.max()) + 1
    first = np.unique(found.thread, return_index=True)[1]
    audience = found.audience[first]
    last = np.full(threads, np.iinfo(np.int64).min)
    np.maximum.at(last, found.thread, found.created)
    people = int(found.person.max()) + 1
    members = np.unique(found.thread * people + found.person)
    thread, person = members // people, members % people
    size = np.bincount(thread, minlength=threads)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    parts: list[tuple[Ints, Ints, Ints]] = []
    for n in range(2, MAX_THREAD_PEOPLE + 1):
        chosen = np.flatnonzero(size == n)
        if not len(chosen):
            continue
        table = person[start[chosen][:, None] + np.arange(n)]  # a row per thread, ascending
        i, j = np.triu_indices(n, 1)  # the pairs in (i, then j) order
        parts.append((np.repeat(chosen, len(i)), table[:, i].ravel(), table[:, j].ravel()))
    if not parts:
        return EdgeEvents.empty()
    on, a, b = (np.concatenate(column) for column in zip(*parts, strict=True))
    order = np.argsort(on, kind="stable")  # threads in order of first sight
    on, a, b = on[order], a[order], b[order]
    kept = np.unique(on)
    topic_set = _thread_topic_sets(found, sets, kept)[np.searchsorted(kept, on)]
    shown = np.isin(audience[on], (AUDIENCES.index("external"), AUDIENCES.index("partner")))
    public = shown & ~np.isin(a, opted_out) & ~np.isin(b, opted_out)
    return EdgeEvents(a, b, np.full(len(on), KINDS.index("thread"), np.int64),
                      1.0 / (size[on] - 1), last[on], audience[on],
                      topic_set, public)
