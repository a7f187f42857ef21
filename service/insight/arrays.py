"""The numpy building blocks the insight's passes share: times as microseconds, the
distinct topic sets of contributions and threads, and rows expanded to one per topic.

A million contributions carry a few hundred distinct topic sets; each row keeps the
number of its set, and `TopicSets.expand` turns rows into (row, topic) pairs by index
arithmetic, where summing per topic in Python dicts was most of the precompute.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ALL_TOPICS", "AUDIENCES", "DAY", "Ints", "TopicSets", "day_of", "group_starts",
           "micros", "monday"]

Ints = npt.NDArray[np.int64]

#: the whole map's topic name; topic number 0 in `TopicSets.names`
ALL_TOPICS = ""
AUDIENCES = ("internal", "external", "partner")
DAY = 86_400_000_000  # microseconds
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(values: Sequence[Any]) -> Ints:
    """Times read from either dialect (SQLite's naive UTC text, PostgreSQL's aware
    datetimes) as microseconds since the epoch."""
    if values and isinstance(values[0], str):
        return np.array(values, dtype="datetime64[us]").astype(np.int64)
    return np.array([(v if v.tzinfo else v.replace(tzinfo=UTC)) - _EPOCH for v in values],
                    dtype="timedelta64[us]").astype(np.int64)


def monday(times: Ints) -> Ints:
    """The day number (since the epoch) of the Monday starting each time's ISO week."""
    days = times // DAY
    return days - (days + 3) % 7  # 1970-01-01 was a Thursday


def day_of(number: int) -> date:
    return date(1970, 1, 1) + timedelta(days=number)


def group_starts(sorted_keys: Ints) -> Ints:
    """Where each run of equal keys starts in a sorted array."""
    return np.flatnonzero(np.diff(sorted_keys, prepend=sorted_keys[:1] - 1))


class TopicSets:
    """The distinct topic sets, numbered from 0 in order of first sight (set 0 is the
    empty set). Topics are numbered by name from 1 (`names[0]` is the whole map), so a
    map's number orders as its name does."""

    def __init__(self) -> None:
        self._by_topics: dict[frozenset[str], int] = {frozenset(): 0}
        self._by_numbers: dict[tuple[int, ...], int] = {(): 0}
        self._sets: list[tuple[int, ...]] = [()]
        self.names: list[str] = [ALL_TOPICS]
        self._number: dict[str, int] = {}
        self._sorted = False

    def of(self, topics: frozenset[str]) -> int:
        """The number of this set of topic names."""
        found = self._by_topics.get(topics)
        if found is None:
            if self._sorted:
                raise RuntimeError("a new topic set after the topics were sorted")
            found = self._by_topics[topics] = self.of_numbers(
                tuple(sorted(self._topic(name) for name in topics)))
        return found

    def of_numbers(self, numbers: tuple[int, ...]) -> int:
        """The number of this sorted tuple of topic numbers."""
        found = self._by_numbers.get(numbers)
        if found is None:
            found = self._by_numbers[numbers] = len(self._sets)
            self._sets.append(numbers)
        return found

    def _topic(self, name: str) -> int:
        number = self._number.get(name)
        if number is None:
            number = self._number[name] = len(self.names)
            self.names.append(name)
        return number

    def sort_names(self) -> None:
        """Renumber the topics by name, once every set of names is known (`of` raises
        after this); the sets keep their numbers."""
        order = sorted(range(1, len(self.names)), key=self.names.__getitem__)
        new = np.zeros(len(self.names), np.int64)
        new[order] = np.arange(1, len(self.names))
        self.names = [ALL_TOPICS, *(self.names[i] for i in order)]
        self._sets = [tuple(sorted(int(new[t]) for t in s)) for s in self._sets]
        self._by_numbers = {s: i for i, s in enumerate(self._sets)}
        self._number = {name: i for i, name in enumerate(self.names)}
        self._sorted = True

    def expand(self, set_of_row: Ints, whole: bool = False) -> tuple[Ints, Ints]:
        """(row, topic) for every topic of every row's set, rows in order and topics
        ascending within a row; with `whole`, topic 0 (the whole map) first for every
        row."""
        sets = [((0,) if whole else ()) + s for s in self._sets]
        lengths = np.array([len(s) for s in sets], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        flat = np.array([t for s in sets for t in s], dtype=np.int64)
        counts = lengths[set_of_row]
        row = np.repeat(np.arange(len(set_of_row), dtype=np.int64), counts)
        within = np.arange(len(row), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts,
                                                                 counts)
        return row, flat[offsets[set_of_row[row]] + within]
