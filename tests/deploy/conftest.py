"""The deploy tests reuse the API suite's app (`api`, and `make_api` for another app on
its store with other [api] settings) and the search suite's osmem-server
(`osmem_base_url`, one per session)."""

from __future__ import annotations

from tests.api.conftest import api, make_api
from tests.search.conftest import osmem_base_url

__all__ = ["api", "make_api", "osmem_base_url"]
