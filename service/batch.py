"""What whole-store batch computations (a rebuild, the insight's refresh) share."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (reference counting still
    frees everything that is not in a cycle). A batch over a million contributions
    allocates tens of millions of objects that live until it ends and makes almost no
    cycles, and every full collection walked all of them: 21 s of a 122 s rebuild at
    1 M contributions (BENCHMARKS.md). Nested uses are fine; the collector is enabled
    again only if it was on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
