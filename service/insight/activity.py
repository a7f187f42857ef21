"""Who did what when, from the live contributions, with numpy: the weekly activity per
topic and audience (contributions and distinct participants), its bursts, and each
person's topics with their recent counts.

Every contribution is expanded to one row per topic (`TopicSets.expand`), the public
scope adds the rows of external and partner contributions by people who did not opt
out, and the counts are grouped by sorting combined integer keys. A Python pass that
updated a dict per (scope, topic, week) and (scope, person, topic) was a third of the
precompute.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from service.insight.arrays import (
    AUDIENCES,
    DAY,
    Ints,
    TopicSets,
    group_starts,
    micros,
    monday,
)
from service.insight.bursts import detect_bursts, week_of, weekly_series
from service.insight.store import Rows

__all__ = ["Contributions", "SCOPES", "bursts", "person_topics", "weeks"]

SCOPES = ("all", "public")
_PUBLIC_AUDIENCES = (AUDIENCES.index("external"), AUDIENCES.index("partner"))
#: `weeks` counts each audience, and all of the scope's together as "total"
_WEEK_AUDIENCES = (*AUDIENCES, "total")
_NO_TOPICS: frozenset[str] = frozenset()


@dataclass
class Contributions:
    """The live contributions as columns, in the order the store returned them: author,
    thread (numbered in order of first sight; a source's contributions without a thread
    share one), audience (index in `AUDIENCES`), creation time (µs), topic set, and
    whether the public scope counts it."""

    person: Ints
    thread: Ints
    audience: Ints
    created: Ints
    topic_set: Ints
    public: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, columns: Sequence[Sequence[Any]], topics_of: Mapping[int, frozenset[str]],
           sets: TopicSets, opted_out: Ints) -> Contributions:
        """From `store.read_contributions` columns and each contribution's topics."""
        ids, people, sources, threads, audiences, created = columns
        numbers: dict[tuple[str, str | None], int] = {}
        thread = [numbers.setdefault(key, len(numbers)) for key in zip(sources, threads,
                                                                         strict=True)]
        code = {name: i for i, name in enumerate(AUDIENCES)}
        person = np.array(people, dtype=np.int64)
        audience = np.array([code[a] for a in audiences], dtype=np.int64)
        return cls(person, np.array(thread, dtype=np.int64), audience, micros(created),
                   np.array([sets.of(topics_of.get(i, _NO_TOPICS)) for i in ids],
                            dtype=np.int64),
                   np.isin(audience, _PUBLIC_AUDIENCES) & ~np.isin(person, opted_out))

    def by_topic(self, sets: TopicSets) -> tuple[Ints, Ints, Ints]:
        """(scope, contribution, topic) for each topic of each contribution in each
        scope it counts in."""
        row, topic = sets.expand(self.topic_set)
        public = np.flatnonzero(self.public[row])
        scope = np.repeat(np.arange(2, dtype=np.int64), [len(row), len(public)])
        return scope, np.concatenate([row, row[public]]), np.concatenate([topic,
                                                                          topic[public]])


def weeks(found: Contributions, sets: TopicSets) -> Rows:
    """Rows of insight_topic_weeks: per scope, topic, week and audience (and "total"),
    the contributions and distinct participants."""
    scope, row, topic = found.by_topic(sets)
    if not len(row):
        return Rows({})
    week = monday(found.created[row])
    first = int(week.min())
    slots = (int(week.max()) - first) // 7 + 1
    key = ((scope * len(sets.names) + topic) * slots + (week - first) // 7) * 4
    key = np.concatenate([key + found.audience[row], key + 3])
    person = np.tile(found.person[row], 2)
    keys, count = np.unique(key, return_counts=True)
    pairs = np.unique(key * (int(found.person.max()) + 1) + person)
    participants = np.bincount(np.searchsorted(keys, pairs // (int(found.person.max()) + 1)),
                               minlength=len(keys))
    audience, rest = keys % 4, keys // 4
    slot, rest = rest % slots, rest // slots
    names = np.array(sets.names, dtype=object)
    return Rows({"scope": np.array(SCOPES, dtype=object)[rest // len(sets.names)],
                 "topic": names[rest % len(sets.names)],
                 "week": (first + slot * 7).astype("datetime64[D]"),
                 "audience": np.array(_WEEK_AUDIENCES, dtype=object)[audience],
                 "contributions": count, "participants": participants})


def bursts(weekly: Rows, as_of: datetime) -> Rows:
    """Rows of insight_bursts: each topic's bursts (in its "total" weekly counts) in each
    scope."""
    series: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
    if len(weekly):
        c = weekly.columns
        total = np.flatnonzero(c["audience"] == "total")
        for scope, topic, week, count in zip(c["scope"][total].tolist(),
                                             c["topic"][total].tolist(),
                                             c["week"][total].tolist(),
                                             c["contributions"][total].tolist(), strict=True):
            series[(scope, topic)][week] = count
    last = week_of(as_of.date())
    found: dict[str, Any] = defaultdict(list)
    for (scope, topic), counts in series.items():
        for burst in detect_bursts(weekly_series(counts, min(counts), last)):
            for name, value in (("scope", scope), ("topic", topic), ("start", burst.start),
                                ("peak", burst.peak), ("end", burst.end),
                                ("peak_contributions", burst.peak_count),
                                ("baseline", burst.baseline), ("strength", burst.strength)):
                found[name].append(value)
    for name in ("start", "peak", "end"):
        found[name] = np.array(found[name], dtype="datetime64[D]")
    return Rows(found if found["scope"] else {})


def person_topics(found: Contributions, sets: TopicSets, as_of: datetime) -> Rows:
    """Rows of insight_person_topics: per scope, person and topic, the community (the
    audience of most of their contributions there, the first seen on a tie), the
    contributions, those of the last 30 and 90 days, and the last one's time."""
    scope, row, topic = found.by_topic(sets)
    if not len(row):
        return Rows({})
    people = int(found.person.max()) + 1
    key = (scope * people + found.person[row]) * len(sets.names) + topic
    # per (key, audience): how many, and where first seen (the order of the old Counter)
    by_audience, first, count = np.unique(key * 4 + found.audience[row], return_index=True,
                                          return_counts=True)
    order = np.lexsort((first, -count, by_audience // 4))
    chosen = order[group_starts(by_audience[order] // 4)]
    keys, of_row = np.unique(key, return_inverse=True)
    created = found.created[row]
    now = micros([as_of])[0]
    last = np.full(len(keys), np.iinfo(np.int64).min)
    np.maximum.at(last, of_row, created)
    names = np.array(sets.names, dtype=object)
    rest = keys // len(sets.names)
    return Rows({"scope": np.array(SCOPES, dtype=object)[rest // people],
                 "person_id": rest % people, "topic": names[keys % len(sets.names)],
                 "community": np.array(AUDIENCES, dtype=object)[by_audience[chosen] % 4],
                 "contributions": np.bincount(of_row, minlength=len(keys)),
                 "last_30_days": np.bincount(of_row, created >= now - 30 * DAY,
                                             len(keys)).astype(np.int64),
                 "last_90_days": np.bincount(of_row, created >= now - 90 * DAY,
                                             len(keys)).astype(np.int64),
                 "last_active": last.astype("datetime64[us]")})
