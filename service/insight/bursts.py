"""Burst detection on a topic's weekly activity: a robust z-score over a rolling baseline.

Each week's count is compared with the median of the weeks before it (a rolling window of
`BASELINE_WEEKS`), scaled by the median absolute deviation (MAD × 1.4826, the normal-
consistent scale) with a Poisson floor (√median, at least 1) so that a quiet topic's zero
MAD does not turn every stray post into a burst. A burst starts at the first week whose
modified z-score reaches `START_Z` (3.5, Iglewicz and Hoaglin's outlier threshold) with at
least `MIN_COUNT` contributions. While it lasts the baseline is frozen at its start (a
rolling baseline would otherwise climb into the burst and end it early); it ends at the
last week still `END_Z` above that baseline once `QUIET_WEEKS` weeks in a row fall below
it, and is ongoing when the series ends inside it.

Why this and not Kleinberg's two-state automaton: community managers must be able to read
why a topic is flagged ("42 contributions against a usual 6"); the median, the MAD and the
threshold say that directly, need no rate parameters tuned per topic, cope with sparse
topics and one-off spikes, and run in one linear pass per topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median

__all__ = ["Burst", "detect_bursts", "week_of", "weekly_series"]

BASELINE_WEEKS = 12
MIN_HISTORY = 4
START_Z = 3.5
END_Z = 1.5
MIN_COUNT = 5
QUIET_WEEKS = 2
_MAD_SCALE = 1.4826


@dataclass(frozen=True, slots=True)
class Burst:
    """A burst: its first, peak and last week (`end` None while it goes on), the peak
    week's count, the baseline it rose from and its strength (the peak's z-score)."""

    start: date
    peak: date
    end: date | None
    peak_count: int
    baseline: float
    strength: float


def week_of(day: date) -> date:
    """The Monday starting the ISO week of `day`."""
    return day - timedelta(days=day.weekday())


def weekly_series(counts: dict[date, int], first: date, last: date) -> list[tuple[date, int]]:
    """Every week from `first` to `last` (Mondays) with its count, zero when absent."""
    weeks = []
    week = week_of(first)
    while week <= last:
        weeks.append((week, counts.get(week, 0)))
        week += timedelta(days=7)
    return weeks


def _baseline(history: Sequence[int]) -> tuple[float, float]:
    centre = median(history)
    mad = median(abs(x - centre) for x in history)
    return centre, max(_MAD_SCALE * mad, centre ** 0.5, 1.0)


def detect_bursts(series: Sequence[tuple[date, int]]) -> list[Burst]:
    """Return the bursts in a weekly series (oldest week first, no gaps), oldest first."""
    bursts: list[Burst] = []
    counts = [count for _, count in series]
    i = MIN_HISTORY
    while i < len(series):
        centre, scale = _baseline(counts[max(0, i - BASELINE_WEEKS):i])
        if counts[i] < MIN_COUNT or (counts[i] - centre) / scale < START_Z:
            i += 1
            continue
        start, last_hot, quiet, j = i, i, 0, i + 1
        while j < len(series) and quiet < QUIET_WEEKS:
            if (counts[j] - centre) / scale >= END_Z:
                last_hot, quiet = j, 0
            else:
                quiet += 1
            j += 1
        peak = max(range(start, last_hot + 1), key=lambda k: (counts[k], -k))
        ongoing = quiet < QUIET_WEEKS  # the series ended inside the burst
        bursts.append(Burst(
            start=series[start][0], peak=series[peak][0],
            end=None if ongoing else series[last_hot][0], peak_count=counts[peak],
            baseline=round(centre, 2), strength=round((counts[peak] - centre) / scale, 2)))
        i = last_hot + 1
    return bursts
