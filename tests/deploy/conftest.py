"""The deploy tests reuse the API suite's app (`api`) and the search suite's
osmem-server (`osmem_base_url`, one per session)."""

from __future__ import annotations

from tests.api.conftest import api
from tests.search.conftest import osmem_base_url

__all__ = ["api", "osmem_base_url"]
