"""Connectors: one module per source kind, each yielding pages of canonical records."""

from __future__ import annotations

from service.config import ConfigError, SourceConfig
from service.connectors.base import Connector

__all__ = ["build_connector"]


def build_connector(source: SourceConfig, credentials: str | None = None) -> Connector:
    """Return the connector for a configured source; raise ConfigError for a kind that
    cannot be pulled or options it rejects (naming the key)."""
    if source.kind == "rss":
        from service.connectors.rss import RssConnector

        return RssConnector(source, credentials=credentials)
    if source.kind == "discourse":
        from service.connectors.discourse import DiscourseConnector

        return DiscourseConnector(source, credentials=credentials)
    if source.kind == "stackexchange":
        from service.connectors.stackexchange import StackExchangeConnector

        return StackExchangeConnector(source, credentials=credentials)
    if source.kind == "jsonfeed":
        from service.connectors.jsonfeed import JsonFeedConnector

        return JsonFeedConnector(source, credentials=credentials)
    if source.kind == "wordpress":
        from service.connectors.wordpress import WordPressConnector

        return WordPressConnector(source, credentials=credentials)
    if source.kind == "slack":
        from service.connectors.slack import SlackConnector

        return SlackConnector(source, credentials=credentials)
    if source.kind == "github_discussions":
        from service.connectors.github_discussions import GitHubDiscussionsConnector

        return GitHubDiscussionsConnector(source, credentials=credentials)
    if source.kind == "confluence":
        from service.connectors.confluence import ConfluenceConnector

        return ConfluenceConnector(source, credentials=credentials)
    raise ConfigError(
        f"source {source.id!r}: kind {source.kind!r} has no connector to pull "
        "with (push sources receive records through import or the API)"
    )
