"""When a source's sync is due: `every 15m` (also s, h, d) or a cron expression.

A schedule names *slots*: the times a sync is due. `latest_slot(now)` is the newest slot
at or before `now`; a scheduler enqueues a job when that slot is newer than the last one
it enqueued for, so a scheduler that was down enqueues once, not once per missed slot.
Intervals are counted from the Unix epoch, so every scheduler computes the same slots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

__all__ = ["Schedule", "ScheduleError", "parse_schedule"]

_EVERY = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ScheduleError(ValueError):
    """A schedule that is neither `every <n><s|m|h|d>` nor a valid cron expression."""


@dataclass(frozen=True)
class Schedule:
    text: str
    #: the interval of an `every` schedule, else None (a cron expression)
    every: timedelta | None

    def latest_slot(self, now: datetime) -> datetime:
        """The newest time at or before `now` (aware, UTC) at which a sync is due."""
        if self.every is not None:
            step = int(self.every.total_seconds())
            elapsed = int((now - _EPOCH).total_seconds())
            return _EPOCH + timedelta(seconds=elapsed - elapsed % step)
        # croniter's get_prev excludes `now` itself: start just after it
        found = croniter(self.text, now + timedelta(microseconds=1)).get_prev(datetime)
        return found.astimezone(UTC)

    def next_slot(self, now: datetime) -> datetime:
        """The first time after `now` at which a sync is due."""
        if self.every is not None:
            return self.latest_slot(now) + self.every
        return croniter(self.text, now).get_next(datetime).astimezone(UTC)


def parse_schedule(text: str) -> Schedule:
    """Return the schedule `text` names (cron times are UTC); raise ScheduleError."""
    cleaned = " ".join(text.strip().lower().split())
    match = _EVERY.match(cleaned)
    if match:
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
        if seconds < 10:
            raise ScheduleError(f"{text!r}: at least every 10s")
        return Schedule(cleaned, timedelta(seconds=seconds))
    if not croniter.is_valid(cleaned):
        raise ScheduleError(f"{text!r} is neither 'every <n>s|m|h|d' (e.g. 'every 15m') nor "
                            "a cron expression (e.g. '*/30 * * * *')")
    return Schedule(cleaned, None)
