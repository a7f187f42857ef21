"""The numpy building blocks of the insight: times, weeks and topic sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from service.insight.arrays import TopicSets, day_of, micros, monday
from service.insight.bursts import week_of


def test_times_from_either_dialect_are_the_same_microseconds() -> None:
    aware = [datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC),
             datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)]
    text = [t.replace(tzinfo=None).isoformat(" ", "microseconds") for t in aware]
    assert micros(text).tolist() == micros(aware).tolist()
    assert micros(["1970-01-02 00:00:01.000002"]).tolist() == [86_401_000_002]


def test_monday_is_the_week_of_every_day() -> None:
    start = datetime(2025, 12, 20, 23, 59, tzinfo=UTC)
    days = [start + timedelta(days=i, hours=i) for i in range(30)]
    mondays = monday(micros(days))
    assert [day_of(int(m)) for m in mondays] == [week_of(d.date()) for d in days]


def test_expanding_gives_each_row_its_topics_in_name_order() -> None:
    sets = TopicSets()
    numbers = [sets.of(frozenset(s)) for s in ({"b", "a"}, set(), {"c"}, {"a", "b"})]
    sets.sort_names()
    row, topic = sets.expand(np.array(numbers, dtype=np.int64))
    assert [(r, sets.names[t]) for r, t in zip(row.tolist(), topic.tolist(), strict=True)] == [
        (0, "a"), (0, "b"), (2, "c"), (3, "a"), (3, "b")]
    row, topic = sets.expand(np.array(numbers[1:3], dtype=np.int64), whole=True)
    assert [(r, sets.names[t]) for r, t in zip(row.tolist(), topic.tolist(), strict=True)] == [
        (0, ""), (1, ""), (1, "c")]


def test_no_new_topic_set_once_the_names_are_sorted() -> None:
    sets = TopicSets()
    known = sets.of(frozenset({"x"}))
    sets.sort_names()
    assert sets.of(frozenset({"x"})) == known
    with pytest.raises(RuntimeError):
        sets.of(frozenset({"y"}))
