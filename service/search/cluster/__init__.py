"""The search-cluster engine: `ExpertIndex` on Elasticsearch or OpenSearch.

`search.engine = "elasticsearch"` selects it; `search.flavor` chooses the official client
(`elasticsearch` 8.x or `opensearch-py`), imported only when the engine is opened.

Modules: `client` (the two clients behind one surface, `ClusterError`), `mapping` (names,
index template, documents), `query` (the query builder), `people` (the store's side of a
search), `index` (the engine: outbox drain, rebuild with an alias swap, search).
"""

from __future__ import annotations

from service.search.cluster.client import ClusterError
from service.search.cluster.index import ClusterExpertIndex

__all__ = ["ClusterError", "ClusterExpertIndex"]
