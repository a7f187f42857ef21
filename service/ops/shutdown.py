"""Stopping a sync cleanly on SIGTERM (Kubernetes stopping a CronJob's pod).

The pipeline commits each page with its cursor, so the clean place to stop is between two
pages: the handler only sets a flag, the page being fetched or stored completes, and the
connector's page stream then ends with `SyncStopped`, a `ConnectorError`. The pipeline
records it like any failed run (`whoknows sources` shows it), resolves identities and
recomputes the people the stored pages touched; the next run resumes from the cursor.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from service.connectors.base import ConnectorError, Page

__all__ = ["StopOnSignal", "SyncStopped", "stoppable"]


class SyncStopped(ConnectorError):
    """The run was asked to stop (SIGTERM) and ended after its last stored page."""


class _StoppableConnector:
    def __init__(self, connector: Any, stop: threading.Event) -> None:
        self.connector = connector
        self.stop = stop

    def pages(self, cursor: str | None) -> Iterator[Page]:
        for page in self.connector.pages(cursor):
            yield page
            # back here once the page is stored and its cursor committed
            if self.stop.is_set():
                raise SyncStopped("stopped by SIGTERM; the next run resumes after the last "
                                  "stored page")


def stoppable(connector: Any, stop: threading.Event) -> _StoppableConnector:
    """`connector`, whose pages end after the current one once `stop` is set (a worker
    stopping, or a job whose lease was lost)."""
    return _StoppableConnector(connector, stop)


class StopOnSignal:
    """While entered, SIGTERM sets `requested` instead of killing the process; `wrap(c)`
    gives a connector whose pages end after the current one once it is set."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        self.signum = signum
        self.requested = threading.Event()
        self._previous: Any = None

    def __enter__(self) -> StopOnSignal:
        self._previous = signal.signal(self.signum, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        signal.signal(self.signum, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested.set()

    def wrap(self, connector: Any) -> _StoppableConnector:
        return stoppable(connector, self.requested)
