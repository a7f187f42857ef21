"""One small surface over the two official clients: `elasticsearch` (8.x) for an
Elasticsearch cluster, `opensearch-py` for an OpenSearch cluster.

Both accept the same request bodies through `body=`, and their bulk helpers share a
signature, so everything above this module is written once. Their exceptions differ: every
failure leaves this module as a `ClusterError`, which says whether the cluster could not be
reached at all (an outage) or answered with an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from service.config import SearchConfig

__all__ = ["Cluster", "ClusterError"]

class ClusterError(RuntimeError):
    """The search cluster failed a request; `unreachable` when it could not be reached."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class Cluster:
    """A connection to one search cluster through its flavor's official client."""

    def __init__(self, settings: SearchConfig, auth: tuple[str, str] | None = None) -> None:
        # no retries: a drain that cannot reach the cluster leaves its rows for the next one
        timeout = settings.timeout_seconds
        self.flavor = settings.flavor
        self.url = settings.url
        if settings.flavor == "opensearch":
            import opensearchpy
            from opensearchpy import helpers as os_helpers

            self.client: Any = opensearchpy.OpenSearch(
                hosts=[settings.url], http_auth=auth, timeout=timeout, max_retries=0)
            self._helpers: Any = os_helpers
            self._unreachable: tuple[type[Exception], ...] = (opensearchpy.ConnectionError,)
            self._failures: tuple[type[Exception], ...] = (opensearchpy.OpenSearchException,)
            self._not_found: type[Exception] = opensearchpy.NotFoundError
        else:
            import elastic_transport
            import elasticsearch
            from elasticsearch import helpers as es_helpers

            self.client = elasticsearch.Elasticsearch(
                hosts=[settings.url], basic_auth=auth, request_timeout=timeout, max_retries=0)
            self._helpers = es_helpers
            self._unreachable = (elastic_transport.ConnectionError,
                                 elastic_transport.ConnectionTimeout)
            self._failures = (elasticsearch.ApiError, elastic_transport.TransportError)
            self._not_found = elasticsearch.NotFoundError

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        try:
            yield
        except self._unreachable as exc:
            raise ClusterError(f"search cluster {self.url} unreachable ({what}): {exc}",
                               unreachable=True) from exc
        except self._failures as exc:
            raise ClusterError(f"search cluster {self.url} refused {what}: {exc}") from exc

    def info(self) -> dict[str, Any]:
        with self._calling("info"):
            return dict(self.client.info())

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._calling("a search"):
            return dict(self.client.search(index=index, body=body))

    def msearch(self, index: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run several searches in one round trip; return their responses in order."""
        lines: list[dict[str, Any]] = []
        for body in bodies:
            lines += [{"index": index}, body]
        with self._calling("a multi-search"):
            responses = self.client.msearch(body=lines)["responses"]
        for response in responses:
            if "error" in response:
                raise ClusterError(f"search cluster {self.url} refused a search: "
                                   f"{response['error']}")
        return list(responses)

    def put_template(self, name: str, body: dict[str, Any]) -> None:
        with self._calling("the index template"):
            self.client.indices.put_index_template(name=name, body=body)

    def create_index(self, name: str, body: dict[str, Any]) -> None:
        with self._calling("creating an index"):
            self.client.indices.create(index=name, body=body)

    def put_settings(self, index: str, settings: dict[str, Any]) -> None:
        with self._calling("index settings"):
            self.client.indices.put_settings(index=index, body=settings)

    def refresh(self, index: str) -> None:
        with self._calling("a refresh"):
            self.client.indices.refresh(index=index)

    def count(self, index: str) -> int:
        with self._calling("a count"):
            return int(self.client.count(index=index)["count"])

    def aliases(self, index_pattern: str) -> dict[str, set[str]]:
        """The indices matching the pattern, each with its aliases."""
        with self._calling("listing aliases"):
            try:
                found = self.client.indices.get_alias(index=index_pattern)
            except self._not_found:
                return {}
        return {name: set(entry.get("aliases", {})) for name, entry in dict(found).items()}

    def update_aliases(self, actions: list[dict[str, Any]]) -> None:
        """Apply alias actions atomically."""
        with self._calling("an alias swap"):
            self.client.indices.update_aliases(body={"actions": actions})

    def delete_indices(self, names: Iterable[str]) -> None:
        names = sorted(names)
        if names:
            with self._calling("deleting indices"):
                self.client.indices.delete(index=",".join(names), ignore_unavailable=True)

    def delete_templates(self, name: str) -> None:
        with self._calling("deleting a template"):
            try:
                self.client.indices.delete_index_template(name=name)
            except self._not_found:
                pass

    def bulk(self, actions: Iterable[dict[str, Any]], *, chunk_size: int = 1000,
             **params: Any) -> list[dict[str, Any]]:
        """Send actions with the client's streaming bulk helper; return the failed items
        (`{op_type: item}` as the cluster answered them), raise only when a request fails."""
        failed = []
        with self._calling("a bulk request"):
            for ok, item in self._helpers.streaming_bulk(
                    self.client, actions, chunk_size=chunk_size, raise_on_error=False,
                    yield_ok=False, **params):
                if not ok:
                    failed.append(item)
        return failed
