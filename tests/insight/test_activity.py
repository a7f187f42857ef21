"""Weekly activity and person topics, counted with numpy, against a plain reference count
on random contributions."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from service.insight import activity
from service.insight.arrays import TopicSets
from service.insight.bursts import week_of

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
TOPICS = ["alpha", "beta", "gamma", "delta"]
AUDIENCES = ["internal", "external", "partner"]


def _random_store(seed: int) -> tuple[list[list[Any]], dict[int, frozenset[str]], list[int]]:
    rng = random.Random(seed)
    columns: list[list[Any]] = [[] for _ in range(6)]
    topics = {}
    for i in range(600):
        created = AS_OF - timedelta(days=rng.uniform(0, 200), seconds=rng.randint(0, 9999))
        row = [i, rng.randint(1, 25), rng.choice(["a", "b"]), rng.choice(["t1", "t2", None]),
               rng.choice(AUDIENCES), created.replace(tzinfo=None).isoformat(" ", "microseconds")]
        for column, value in zip(columns, row, strict=True):
            column.append(value)
        topics[i] = frozenset(rng.sample(TOPICS, rng.randint(0, 2)))
    return columns, topics, [3, 7]


def _reference(columns: list[list[Any]], topics: dict[int, frozenset[str]],
               opted_out: list[int]) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    weeks: Counter[tuple[Any, ...]] = Counter()
    people: dict[tuple[Any, ...], set[int]] = defaultdict(set)
    mine: dict[tuple[Any, ...], list[Any]] = {}
    for cid, person, _, _, audience, text in zip(*columns, strict=True):
        created = datetime.fromisoformat(text).replace(tzinfo=UTC)
        public = audience != "internal" and person not in opted_out
        for scope in ("all", "public") if public else ("all",):
            for topic in topics[cid]:
                for key in ((scope, topic, week_of(created.date()), audience),
                            (scope, topic, week_of(created.date()), "total")):
                    weeks[key] += 1
                    people[key].add(person)
                found = mine.setdefault((scope, person, topic), [Counter(), 0, 0, created])
                found[0][audience] += 1
                found[1] += created >= AS_OF - timedelta(days=30)
                found[2] += created >= AS_OF - timedelta(days=90)
                found[3] = max(found[3], created)
    return ({(*key, count, len(people[key])) for key, count in weeks.items()},
            {(*key, c.most_common(1)[0][0], sum(c.values()), d30, d90,
              last.replace(tzinfo=None).isoformat(" ", "microseconds"))
             for key, (c, d30, d90, last) in mine.items()})


def _rows(rows: activity.Rows) -> set[tuple[Any, ...]]:
    return {tuple(row) for row in rows.tuples("sqlite")}


def test_weeks_and_person_topics_match_a_plain_count() -> None:
    for seed in range(3):
        columns, topics, opted_out = _random_store(seed)
        sets = TopicSets()
        found = activity.Contributions.of(columns, topics, sets,
                                          np.array(opted_out, dtype=np.int64))
        sets.sort_names()
        weeks, person_topics = _reference(columns, topics, opted_out)
        assert _rows(activity.weeks(found, sets)) == {
            (s, t, w.isoformat(), a, c, p) for s, t, w, a, c, p in weeks}
        assert _rows(activity.person_topics(found, sets, AS_OF)) == person_topics


def test_bursts_come_from_the_total_weekly_counts() -> None:
    columns: list[list[Any]] = [[] for _ in range(6)]
    start = AS_OF - timedelta(weeks=30)
    for week in range(30):
        for i in range(20 if 20 <= week <= 22 else 2):
            at = start + timedelta(weeks=week, hours=i)
            for column, value in zip(columns, [len(columns[0]), i % 7, "f", None, "external",
                                               at.replace(tzinfo=None).isoformat(" ")],
                                     strict=True):
                column.append(value)
    sets = TopicSets()
    found = activity.Contributions.of(columns, dict.fromkeys(columns[0], frozenset({"g"})),
                                      sets, np.zeros(0, np.int64))
    sets.sort_names()
    bursts = activity.bursts(activity.weeks(found, sets), AS_OF)
    assert sorted(set(bursts.columns["scope"])) == ["all", "public"]
    assert {str(day) for day in bursts.columns["start"]} == {
        week_of((start + timedelta(weeks=20)).date()).isoformat()}
