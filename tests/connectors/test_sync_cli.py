"""`whoknows sync` and `whoknows sources` end to end: configured sources pulled over real
HTTP."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from joserfc.jwk import RSAKey

from service.cli import cli
from tests.connectors.confluence_server import ConfluenceServer
from tests.connectors.feedserver import FeedServer
from tests.connectors.github_server import App, GitHubServer
from tests.connectors.slack_server import TOKEN as SLACK_TOKEN
from tests.connectors.slack_server import SlackServer
from tests.connectors.test_confluence import TOKEN as CONFLUENCE_TOKEN
from tests.connectors.test_slack import EXPECTED as SLACK_EXPECTED


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


def test_the_issue_18_kinds_sync_and_show_their_state_in_sources(tmp_path: Path) -> None:
    """Slack, GitHub Discussions (as a GitHub App) and Confluence, configured as the
    README says, pulled by `whoknows sync`; `whoknows sources` lists each with its items,
    and a source that then fails with the reason, no secret in it."""
    key = RSAKey.generate_key(2048, private=True)
    pem = key.as_pem(private=True).decode()
    with SlackServer() as slack, GitHubServer() as github, ConfluenceServer() as wiki:
        github.app = App(918273, 46151, RSAKey.import_key(key.as_pem()))
        wiki.basic = CONFLUENCE_TOKEN
        config = tmp_path / "whoknows.toml"
        config.write_text(f"""
[database]
url = "sqlite:///{tmp_path / 'w.db'}"

[[sources]]
id = "slack-qa"
kind = "slack"
url = "{slack.url}"
audience = "internal"
credentials_env = "SLACK_BOT_TOKEN"
options = {{ channels = ["ask-claims", "ask-it"] }}

[[sources]]
id = "octo-discussions"
kind = "github_discussions"
url = "{github.url}"
audience = "external"
credentials_env = "OCTO_GITHUB_APP_KEY"
options = {{ repository = "octo-org/octo-repo", app_id = 918273, installation_id = 46151 }}

[[sources]]
id = "claims-wiki"
kind = "confluence"
url = "{wiki.url}"
audience = "internal"
credentials_env = "CONFLUENCE_API_TOKEN"
""")
        env = {"SLACK_BOT_TOKEN": SLACK_TOKEN, "OCTO_GITHUB_APP_KEY": pem,
               "CONFLUENCE_API_TOKEN": CONFLUENCE_TOKEN}
        runner = CliRunner()

        def run(*args: str):  # type: ignore[no-untyped-def]
            return runner.invoke(cli, ["--config", str(config), *args], env=env)

        synced = run("sync")
        assert synced.exit_code == 0, synced.output
        for source_id, count in (("slack-qa", len(SLACK_EXPECTED)), ("octo-discussions", 12),
                                 ("claims-wiki", 12)):
            assert f"{source_id}: {count} new" in synced.output
        listing = run("sources").output.splitlines()
        for source_id, kind, count in (("slack-qa", "slack", len(SLACK_EXPECTED)),
                                       # the comment deleted under its replies is not counted
                                       ("octo-discussions", "github_discussions", 11),
                                       ("claims-wiki", "confluence", 12)):
            [line] = [line for line in listing if line.startswith(source_id)]
            assert f" {kind} " in line and f" {count} items" in line, line
            assert "last success 20" in line and "gave up" not in line

        github.app.installation_id = 1  # the App was uninstalled, reinstalled elsewhere
        failed = run("sync", "octo-discussions")
        assert failed.exit_code == 1
        shown = run("sources").output
        assert "gave up: FatalSourceError: GitHub knows no installation 46151" in shown
        assert "options.installation_id" in shown
        assert "PRIVATE KEY" not in shown + failed.output and pem[40:80] not in shown
