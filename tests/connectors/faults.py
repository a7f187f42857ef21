"""Real-world faults for the connector test servers, drawn from a seeded generator.

A `FaultPlan` decides, request by request, what a server does instead of (or on top of)
its normal answer; each server says it in its platform's own format:

    error      an HTTP 5xx (502 or 503) with an HTML body
    throttle   the platform's throttle (Discourse and WordPress: 429 with Retry-After;
               Stack Exchange: HTTP 400 throttle_violation, "more requests available in
               N seconds"), naming `wait` seconds
    garbled    200 with half the body and a Content-Length that matches it: not JSON
    dropped    200 announcing the whole body, a third sent, the connection closed
    repeat     a list page served again (only where `listing` is true): Discourse's
               offset list shifted down by a page, as topics bumped at its head do;
               Stack Exchange's and WordPress's previous list answer replayed, as a cache
    slow       the answer `delay` seconds late (longer than the client's timeout)
    backoff    a Stack Exchange wrapper carrying `backoff: wait`

The draws come from `random.Random(seed)`, two per request, so a client that sends the
same requests meets the same faults. After a throttle the plan holds a window of `wait`
seconds on the whole server, after a backoff on that route: a request that comes inside
one is answered as a throttle, as the real APIs do, and is a violation, kept in
`violations`, unless it came within `in_flight` seconds of the window's start (a
concurrent client's requests already on their way when the throttle went out: no client
can call them back).
Every request is logged in `log` with the fault it met.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

__all__ = [
    "ALL_FAULTS", "HTML_ERROR", "Drawn", "FaultPlan", "RateLimit", "Rates", "cut", "pause",
]


@dataclass(frozen=True)
class Rates:
    """The share of requests meeting each fault (the issue's field test by default)."""

    error: float = 0.15
    throttle: float = 0.02
    truncated: float = 0.05  # half garbled, half dropped
    slow: float = 0.02
    repeat: float = 0.10  # of list pages
    backoff: float = 0.0  # of answers, where the platform has it (Stack Exchange)


ALL_FAULTS = Rates()


@dataclass(frozen=True)
class Drawn:
    at: float  # time.monotonic()
    route: str
    kind: str | None


@dataclass
class FaultPlan:
    seed: int = 0
    rates: Rates = ALL_FAULTS
    wait: int = 1
    delay: float = 0.6
    in_flight: float = 0.05
    log: list[Drawn] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._windows: dict[str, float] = {}
        self._lock = threading.Lock()

    def draw(self, route: str, *, listing: bool = False) -> str | None:
        """Log a request to `route` and return the fault it meets (None: none)."""
        with self._lock:
            now = time.monotonic()
            first, second = self._random.random(), self._random.random()
            for scope in ("*", route):
                if now < self._windows.get(scope, 0.0):
                    left = self._windows[scope] - now
                    if left < self.wait - self.in_flight:
                        self.violations.append(f"{route}: {left:.3f} s inside a {scope} window")
                    self.log.append(Drawn(now, route, "throttle"))
                    return "throttle"
            kind = self._kind(first, second, listing)
            if kind == "throttle":
                self._windows["*"] = now + self.wait
            elif kind == "backoff":
                self._windows[route] = now + self.wait
            self.log.append(Drawn(now, route, kind))
            return kind

    def _kind(self, first: float, second: float, listing: bool) -> str | None:
        rates = self.rates
        bounds = (
            ("error", rates.error),
            ("throttle", rates.throttle),
            ("garbled", rates.truncated / 2),
            ("dropped", rates.truncated / 2),
            ("slow", rates.slow),
        )
        edge = 0.0
        for kind, rate in bounds:
            edge += rate
            if first < edge:
                return kind
        if listing and second < rates.repeat:
            return "repeat"
        if second > 1 - rates.backoff:
            return "backoff"
        return None

    def counts(self) -> Counter[str]:
        """How many requests met each fault ("none" for a clean answer)."""
        return Counter(drawn.kind or "none" for drawn in self.log)

    def error_status(self) -> int:
        with self._lock:
            return self._random.choice((502, 503))


@dataclass
class RateLimit:
    """A server's own rate limit, as a platform enforces it: a token bucket of `burst`
    requests refilled at `rate` a second. A request over it opens a window of `wait`
    seconds, answered 429 with `Retry-After: wait`; a request that arrives inside a window
    is answered the same and is a violation (kept in `violations`) unless it came within
    `in_flight` seconds of the window's start (on its way before the 429 went out)."""

    rate: float
    burst: int
    wait: int = 1
    in_flight: float = 0.05
    throttled: int = 0
    violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._at = time.monotonic()
        self._window: tuple[float, float] | None = None  # (opened, closes)
        self._lock = threading.Lock()

    def over(self, route: str) -> bool:
        """Whether a request to `route` arriving now is throttled (and count it)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._window and now < self._window[1]:
                opened, closes = self._window
                if now - opened >= self.in_flight:
                    self.violations.append(f"{route}: {closes - now:.3f} s before Retry-After")
                self.throttled += 1
                return True
            if self._tokens < 1:
                self._window = (now, now + self.wait)
                self.throttled += 1
                return True
            self._tokens -= 1
            return False


def cut(body: bytes, kind: str | None) -> tuple[bytes, int, bool]:
    """The bytes to send for `body`, the length to announce and whether to close after:
    half the body announced as all of it (garbled), a third of it announced in full
    (dropped), or the body unchanged."""
    if kind == "garbled":
        half = body[: len(body) // 2]
        return half, len(half), False
    if kind == "dropped":
        return body[: len(body) // 3], len(body), True
    return body, len(body), False


HTML_ERROR = b"<html><body><h1>503 Service Unavailable</h1></body></html>"


def pause(kind: str | None, plan: FaultPlan) -> None:
    """Wait out a slow answer before it goes."""
    if kind == "slow":
        time.sleep(plan.delay)
