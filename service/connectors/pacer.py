"""How fast one source is asked: a token bucket shared by every request of the source, and
the pauses its throttles ask for, honoured by every thread at once.

A `Pacer` hands out send times (the generic cell rate algorithm: a token bucket of `burst`
tokens refilled at `requests_per_second`, kept as one "theoretical arrival time"). A
thread's `acquire()` reserves the next send time under a lock and sleeps until it, once;
a `pause(seconds)` (a 429 or 503 `Retry-After`, a Stack Exchange `backoff`) moves every
later send time past the pause, and a thread already sleeping toward an earlier one wakes
and sleeps again to the pause's end. The thread whose answer asked for the pause waits it
out in its own retry (the client's backoff), so it is not made to wait twice.

`for_source` keeps one pacer per source id in the process: two runs of the same source
(a sync and a webhook's topic read) share its budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Pacer", "for_source"]


class Pacer:
    """A token bucket of `burst` requests refilled at `requests_per_second` (None: no
    limit but the pauses), thread-safe. `clock` and `sleep` are monotonic seconds and the
    way to wait (tests pass recorders)."""

    def __init__(
        self,
        requests_per_second: float | None = None,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_second is not None and requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.requests_per_second = requests_per_second
        self.burst = burst
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._arrival = 0.0  # the bucket's theoretical arrival time
        self._paused_until = 0.0
        self._paused_by: int | None = None  # the thread whose answer asked for the pause

    @property
    def paused_until(self) -> float:
        """The `clock` time before which no request of the source goes out."""
        return self._paused_until

    def acquire(self) -> float:
        """Wait until this request may go (a token is free and no pause holds); return
        the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._arrival - self._interval * (self.burst - 1))
            slot = max(slot, self._pause_for_me())
            self._arrival = max(self._arrival, slot) + self._interval
        waited = 0.0
        while True:
            delay = slot - self._clock()
            if delay > 0:
                self._sleep(delay)
                waited += delay
            with self._lock:
                # A pause that began while this thread slept holds it too.
                later = self._pause_for_me()
                if later <= slot:
                    return waited
                slot = later

    def pause(self, seconds: float) -> None:
        """Hold every request of the source for `seconds` from now (a longer pause already
        holding stays); the calling thread waits it out on its own."""
        with self._lock:
            until = self._clock() + seconds
            if until > self._paused_until:
                self._paused_until = until
                self._paused_by = threading.get_ident()

    def _pause_for_me(self) -> float:
        if self._paused_by == threading.get_ident():
            return 0.0
        return self._paused_until


_PACERS: dict[str, Pacer] = {}
_PACERS_LOCK = threading.Lock()


def for_source(source_id: str, requests_per_second: float | None, burst: int) -> Pacer:
    """The process's pacer of source `source_id`, made anew when its rate or burst changed
    (a reloaded configuration)."""
    with _PACERS_LOCK:
        pacer = _PACERS.get(source_id)
        if pacer is None or (pacer.requests_per_second, pacer.burst) != (
            requests_per_second, burst
        ):
            pacer = _PACERS[source_id] = Pacer(requests_per_second, burst)
        return pacer
