"""`whoknows sync` end to end: a configured RSS source pulled over real HTTP."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from service.cli import cli
from tests.connectors.feedserver import FeedServer


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "whoknows.toml"
    path.write_text(f"""
[database]
url = "sqlite:///{tmp_path / 'w.db'}"

[[sources]]
id = "intranet-blog"
kind = "rss"
url = "{url}"
audience = "internal"
""")
    return path


def _run(config: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def test_sync_pulls_the_feed_once_and_search_finds_its_author(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.file("/feed/", "wordpress_rss2.xml")
    config = _config(tmp_path, feed_server.url("/feed/"))
    first = _run(config, "sync")
    assert first.exit_code == 0, first.output
    assert "intranet-blog: 3 new" in first.output
    again = _run(config, "sync")
    assert "intranet-blog: 0 new, 0 updated" in again.output
    found = _run(config, "search", "dental claims adjudication")
    assert "Priya Raman" in found.output
    assert "medical insurance claims" in found.output
    assert "no skipped items" in _run(config, "sources").output


def test_a_refused_source_fails_the_run_and_shows_in_sources(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.reply("/feed/", status=401, body="login required")
    config = _config(tmp_path, feed_server.url("/feed/"))
    result = _run(config, "sync", "intranet-blog")
    assert result.exit_code == 1
    assert "FatalSourceError" in result.output
    listing = _run(config, "sources")
    assert "gave up: FatalSourceError" in listing.output
    assert "skipped items 1 in all runs, the newest 20" in listing.output  # its date


def test_a_run_that_gave_up_shows_in_sources_with_the_reason(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.reply("/feed/", status=429, headers={"Retry-After": "3600"})
    config = _config(tmp_path, feed_server.url("/feed/"))

    result = _run(config, "sync")

    assert result.exit_code == 1
    listing = _run(config, "sources").output
    assert "last run " in listing and " gave up: RetryExhaustedError: GET " in listing
    assert "HTTP 429" in listing and "wait 3600 s, more than the 300 s allowed" in listing
    feed_server.routes.clear()  # the feed is back
    feed_server.file("/feed/", "wordpress_rss2.xml")
    assert _run(config, "sync").exit_code == 0
    assert "gave up" not in _run(config, "sources").output


def test_sync_says_each_retry_and_its_wait(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.reply("/feed/", status=503, headers={"Retry-After": "1"})
    feed_server.reply("/feed/", status=503, headers={"Retry-After": "1"})
    feed_server.file("/feed/", "wordpress_rss2.xml")
    config = _config(tmp_path, feed_server.url("/feed/"))

    result = _run(config, "sync")

    assert result.exit_code == 0, result.output
    assert "intranet-blog: 3 new" in result.output
    lines = [line for line in result.stderr.splitlines() if "next in" in line]
    assert len(lines) == 2, result.stderr
    assert "HTTP 503" in lines[0] and "attempt 1 of 8, next in 1.0 s" in lines[0]
    assert "attempt 2 of 8, next in 1.0 s" in lines[1]
