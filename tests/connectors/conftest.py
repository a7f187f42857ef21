from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.connectors.feedserver import FeedServer


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A local HTTP server, stopped after the test."""
    with FeedServer() as server:
        yield server
