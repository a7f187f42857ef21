"""A per-process LRU cache of search results, invalidated by the store's search generation.

Every gunicorn worker, replica and sync process keeps its own cache; they invalidate each
other through a generation number in the store, bumped in the same transaction as any
change a search reads (`service.store.generation`), on SQLite and PostgreSQL alike. A
cached answer is also dropped after `ttl` seconds, because relevance fades with the
documents' age at the moment of the search.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from service.search.base import ExpertQuery, SearchResult

__all__ = ["ResultCache"]


class ResultCache:
    """LRU of `SearchResult` keyed by the whole `ExpertQuery` (text, audience, filters,
    limit, offset) and valid for one generation. `size` 0 turns it off."""

    def __init__(self, size: int = 512, ttl: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[ExpertQuery, tuple[int, float, SearchResult]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, query: ExpertQuery, generation: int) -> SearchResult | None:
        """Return a copy of the cached result of `query` at `generation`, else None."""
        if self.size <= 0:
            return None
        with self._lock:
            entry = self._entries.get(query)
            if entry is None:
                return None
            if entry[0] != generation or self.clock() - entry[1] > self.ttl:
                del self._entries[query]
                return None
            self._entries.move_to_end(query)
        # callers may change the hits they get (a copy each time keeps the cache intact)
        return copy.deepcopy(entry[2])

    def put(self, query: ExpertQuery, generation: int, result: SearchResult) -> None:
        if self.size <= 0:
            return
        stored = copy.deepcopy(result)
        with self._lock:
            self._entries[query] = (generation, self.clock(), stored)
            self._entries.move_to_end(query)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
