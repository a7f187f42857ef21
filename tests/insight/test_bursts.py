"""Burst detection on weekly series: planted bursts are found with their start and end."""

from __future__ import annotations

import random
from datetime import date, timedelta

from service.insight.bursts import detect_bursts, week_of, weekly_series

MONDAY = date(2026, 1, 5)


def _series(counts: list[int]) -> list[tuple[date, int]]:
    return [(MONDAY + timedelta(weeks=i), n) for i, n in enumerate(counts)]


def test_a_planted_burst_is_found_with_its_start_peak_and_end() -> None:
    rng = random.Random(7)
    counts = [rng.randint(2, 6) for _ in range(40)]
    counts[25:29] = [18, 30, 24, 15]
    bursts = detect_bursts(_series(counts))
    assert len(bursts) == 1
    burst = bursts[0]
    assert abs((burst.start - (MONDAY + timedelta(weeks=25))).days) <= 7
    assert burst.end is not None
    assert abs((burst.end - (MONDAY + timedelta(weeks=28))).days) <= 7
    assert burst.peak == MONDAY + timedelta(weeks=26)
    assert burst.peak_count == 30 and burst.strength > 3.5


def test_a_steady_noisy_topic_has_no_burst() -> None:
    rng = random.Random(3)
    assert detect_bursts(_series([rng.randint(5, 12) for _ in range(60)])) == []


def test_a_burst_still_going_has_no_end() -> None:
    burst = detect_bursts(_series([3, 2, 4, 3, 3, 2, 3, 25, 28]))[0]
    assert burst.end is None and burst.start == MONDAY + timedelta(weeks=7)


def test_a_few_posts_on_a_silent_topic_are_not_a_burst() -> None:
    assert detect_bursts(_series([0, 0, 0, 0, 0, 0, 3, 0, 0])) == []


def test_weekly_series_fills_quiet_weeks_with_zeros() -> None:
    first = week_of(date(2026, 1, 7))
    series = weekly_series({first: 2, first + timedelta(weeks=2): 5}, date(2026, 1, 7),
                           date(2026, 1, 25))
    assert series == [(first, 2), (first + timedelta(weeks=1), 0),
                      (first + timedelta(weeks=2), 5)]
