"""The GitHub Discussions connector against a local GraphQL API serving fixture discussions."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import select

from service import pipeline
from service.config import ConfigError, SourceConfig, load_config
from service.connectors import build_connector
from service.connectors.base import ConnectorError, FatalSourceError, Page
from service.connectors.github_discussions import GitHubDiscussionsConnector
from service.connectors.http import HttpClient
from service.model import ContributionKind, ContributionRecord
from service.store import sync as store_sync
from service.store.schema import contributions
from tests.connectors.crashsite import (
    Tripwire,
    _quiet_about_killed_clients,
    start_sync,
    write_config,
)
from tests.connectors.crashsite import snapshot as crash_snapshot
from tests.connectors.faults import FaultPlan, Rates
from tests.connectors.github_server import GitHubServer
from tests.connectors.test_crash import SEED
from tests.connectors.test_under_faults import check_sync_under_faults

TOKEN = "ghs_installation0token0for0tests"
Services = pipeline.Services


@pytest.fixture
def repo() -> Iterator[GitHubServer]:
    """The fixture repository: four discussions, twelve items."""
    with GitHubServer(token=TOKEN) as server:
        yield server


def source(server: GitHubServer, source_id: str = "forum", **options: Any) -> SourceConfig:
    audience = {"forum": "external", "portal": "partner", "blog": "internal"}[source_id]
    return SourceConfig(
        id=source_id,
        kind="github_discussions",
        audience=audience,  # type: ignore[arg-type]
        url=server.url,
        options={"repository": "octo-org/octo-repo", **options},
    )


def client() -> HttpClient:
    return HttpClient(timeout=0.4, backoff_base=0.01, backoff_max=0.2)


def connect(server: GitHubServer, source_id: str = "forum", **kwargs: Any) -> Any:
    options = kwargs.pop("options", {"per_page": 2})
    return GitHubDiscussionsConnector(
        source(server, source_id, **options), client(), TOKEN, **kwargs
    )


def by_id(pages: list[Page]) -> dict[str, ContributionRecord]:
    return {r.id: r for page in pages for r in page.records}


def sync(services: Services, connector: GitHubDiscussionsConnector, source_id: str = "forum"):
    with services.engine.connect() as conn:
        cursor = store_sync.get_cursor(conn, source_id)
    return pipeline.ingest_pages(
        services, source_id, connector.pages(cursor), full_pass=cursor is None
    )


def stored(services: Services) -> dict[str, Any]:
    c = contributions.c
    with services.engine.connect() as conn:
        rows = conn.execute(select(c.external_id, c.body, c.deleted, c.audience)).all()
    return {row[0]: row for row in rows}


# Mapping


def test_a_clean_sync_yields_every_item_once_as_the_repository_holds_it(
    repo: GitHubServer,
) -> None:
    pages = list(connect(repo, nested=1).pages(None))
    ids = [r.id for page in pages for r in page.records]
    records = by_id(pages)

    assert len(ids) == len(set(ids)) == 12
    want = repo.expected()
    assert set(records) == set(want)
    for item_id, expected in want.items():
        record = records[item_id]
        assert record.kind == expected["kind"], item_id
        assert record.author.username == expected["login"], item_id
        assert record.parent == expected["parent"], item_id
        assert record.thread == expected["thread"], item_id
        assert record.accepted == expected["accepted"], item_id
    assert pages[-1].complete and not any(p.complete for p in pages[:-1])


def test_discussions_map_to_questions_comments_to_answers_and_replies_to_replies(
    repo: GitHubServer,
) -> None:
    records = by_id(list(connect(repo).pages(None)))

    question = records["D_kwDOHq0001"]
    assert question.kind is ContributionKind.QUESTION
    assert question.thread == "D_kwDOHq0001" and question.parent is None
    assert question.title.startswith("How do I cache pip wheels")
    assert question.tags == ["Q&A", "ci", "python"]
    assert question.likes == 7 + 3  # upvotes + 👍 (👀 is not a like)
    assert question.author.id == "1001" and question.author.name == "Mona Lisa"
    assert question.replies == 2
    answer = records["DC_kwDOHq0011"]
    assert answer.kind is ContributionKind.ANSWER and answer.accepted
    assert answer.thread == answer.parent == "D_kwDOHq0001"
    assert answer.likes == 5 + 2 and answer.replies == 2  # ❤️ counts, 👎 does not
    reply = records["DC_kwDOHq0013"]
    assert reply.kind is ContributionKind.REPLY and reply.parent == "DC_kwDOHq0011"
    assert reply.thread == "D_kwDOHq0001" and not reply.accepted
    ghost = records["DC_kwDOHq0014"]
    assert ghost.author.id == "ghost" and not ghost.accepted
    assert records["DC_kwDOHq0031"].deleted and not records["DC_kwDOHq0032"].deleted
    assert records["D_kwDOHq0002"].likes == 12 + 9 + 4
    assert records["DC_kwDOHq0021"].author.username == "dependabot"


def test_comments_and_replies_past_the_first_page_are_followed(repo: GitHubServer) -> None:
    repo.add_replies("D_kwDOHq0004", None, 5)
    first = repo.discussions["D_kwDOHq0004"]["comments"]["nodes"][0]["id"]
    repo.add_replies("D_kwDOHq0004", first, 4)

    records = by_id(list(connect(repo, nested=2).pages(None)))

    assert set(records) == set(repo.expected())
    assert sum(r.parent == first for r in records.values()) == 4
    kinds = [k for k, _ in repo.requests]
    assert kinds.count("comments") == 2 and kinds.count("replies") == 1


def test_a_clean_sync_stores_what_the_server_holds_with_the_configured_audience(
    repo: GitHubServer, services: Services
) -> None:
    report = sync(services, connect(repo, "portal"), "portal")

    assert report.failed is None
    rows = stored(services)
    assert set(rows) == set(repo.expected())
    assert {row.audience for row in rows.values()} == {"partner"}


# Incremental runs


def test_an_incremental_run_catches_new_edited_and_deleted_items(
    repo: GitHubServer, services: Services
) -> None:
    assert sync(services, connect(repo)).failed is None
    repo.requests.clear()
    new = repo.add_comment("D_kwDOHq0001", "Try uv: its cache is global.")
    repo.edit("D_kwDOHq0003", "DC_kwDOHq0033", "Fixed in 2.0.2, not 2.0.1.")
    repo.delete_comment("D_kwDOHq0002", "DC_kwDOHq0021")

    report = sync(services, connect(repo))

    assert report.failed is None
    rows = stored(services)
    assert rows[new].body == "Try uv: its cache is global."
    assert rows["DC_kwDOHq0033"].body == "Fixed in 2.0.2, not 2.0.1."
    assert rows["DC_kwDOHq0021"].deleted
    # Three discussions bumped to the head, two a page: both pages are read; the unchanged
    # one, at the cursor's time and id, is passed over. The next run stops on page 1.
    assert [k for k, _ in repo.requests] == ["list", "list"]
    again = sync(services, connect(repo))
    assert again.batch.changed_ids == []
    assert [k for k, _ in repo.requests][-1:] == ["list"]


def test_a_full_run_flags_a_deleted_discussion_with_its_comments(
    repo: GitHubServer, services: Services
) -> None:
    assert sync(services, connect(repo)).failed is None
    repo.remove("D_kwDOHq0003")

    report = pipeline.ingest_pages(services, "forum", connect(repo).pages(None), full_pass=True)

    assert report.flagged_deleted == 3  # its fourth item, a deleted comment, was already
    rows = stored(services)
    assert all(rows[i].deleted for i in ("D_kwDOHq0003", "DC_kwDOHq0032", "DC_kwDOHq0033"))
    assert not rows["D_kwDOHq0001"].deleted


def test_a_walk_resumes_from_the_cursor_of_its_last_stored_page(repo: GitHubServer) -> None:
    pages = connect(repo).pages(None)
    first = next(pages)
    walk = json.loads(first.cursor or "")["walk"]
    assert walk["after"] and walk["top"] == "2024-05-01T07:00:00+00:00"

    rest = list(connect(repo).pages(first.cursor))

    assert set(by_id([first, *rest])) == set(repo.expected())
    assert json.loads(rest[-1].cursor or "") == {
        "updated_at": "2024-05-01T07:00:00+00:00",
        "ids": ["D_kwDOHq0004"],
    }
    assert not rest[-1].complete  # a resumed walk is no full pass


# Failures and limits


def test_a_missing_or_refused_token_is_fatal(repo: GitHubServer) -> None:
    anonymous = GitHubDiscussionsConnector(source(repo), client())
    with pytest.raises(FatalSourceError, match="401"):
        list(anonymous.pages(None))
    wrong = GitHubDiscussionsConnector(source(repo), client(), "ghp_wrong")
    with pytest.raises(FatalSourceError, match="401"):
        list(wrong.pages(None))
    assert len(repo.requests) == 0


def test_an_unknown_repository_is_fatal(repo: GitHubServer) -> None:
    config = SourceConfig(
        id="forum",
        kind="github_discussions",
        audience="external",
        url=repo.url,
        options={"repository": "octo-org/nope"},
    )
    with pytest.raises(FatalSourceError, match="octo-org/nope"):
        list(GitHubDiscussionsConnector(config, client(), TOKEN).pages(None))


def test_a_spent_primary_rate_limit_is_waited_out_until_its_reset(repo: GitHubServer) -> None:
    repo.limit = repo.remaining = 3
    repo.reset_seconds = 0.3
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    records = by_id(list(connect(repo, sleep=sleep, nested=1).pages(None)))

    assert set(records) == set(repo.expected())
    assert repo.violations == []
    assert len(repo.requests) == 5 and len(waits) == 1 and 0 < waits[0] <= 2


def test_a_limit_spent_by_another_client_is_waited_out_from_the_403s_headers(
    repo: GitHubServer,
) -> None:
    pages = connect(repo).pages(None)
    first = next(pages)
    repo.spend_elsewhere(0.2)
    started = time.monotonic()

    rest = list(pages)

    assert set(by_id([first, *rest])) == set(repo.expected())
    # The one refused query could not be foreseen; the retry waited for X-RateLimit-Reset.
    assert len(repo.violations) == 1 and time.monotonic() - started >= 0.2


def test_a_rate_limit_resetting_too_late_stops_the_run_before_asking(repo: GitHubServer) -> None:
    repo.limit = repo.remaining = 1
    repo.reset_seconds = 3600
    pages = connect(repo).pages(None)
    first = next(pages)
    with pytest.raises(ConnectorError, match="rate limit is spent"):
        next(pages)
    assert repo.violations == [] and json.loads(first.cursor or "")["walk"]


def test_a_list_that_repeats_its_page_ends_the_run(repo: GitHubServer) -> None:
    repo.plan = FaultPlan(seed=0, rates=Rates(0, 0, 0, 0, repeat=1.0))
    with pytest.raises(ConnectorError, match="same page 5 times"):
        list(connect(repo).pages(None))


def test_the_sync_under_every_fault_ends_exact_with_no_request_inside_a_window(
    open_store: Callable[[str], Services],
) -> None:
    with GitHubServer.scaled(30, token=TOKEN) as server:

        def attach(plan: FaultPlan | None) -> None:
            server.plan = plan

        figures = check_sync_under_faults(
            FaultPlan(seed=11),
            attach,
            lambda: connect(server, options={"per_page": 3}, nested=2),
            open_store,
            "forum",
        )
    assert figures["stored"] == 30 * 12


def test_secondary_limit_bursts_are_waited_out_both_as_403_and_429(
    open_store: Callable[[str], Services],
) -> None:
    with GitHubServer.scaled(10, token=TOKEN) as server:

        def attach(plan: FaultPlan | None) -> None:
            server.plan = plan

        plan = FaultPlan(seed=2, rates=Rates(0, throttle=0.3, truncated=0, slow=0, repeat=0))
        check_sync_under_faults(
            plan, attach, lambda: connect(server), open_store, "forum", {"throttle"}
        )
    assert plan.counts()["throttle"] >= 3 and plan.violations == []
    assert set(server.throttled) == {403, 429}


# Configuration


def test_the_source_is_built_from_its_kind_and_needs_its_endpoint(repo: GitHubServer) -> None:
    assert isinstance(build_connector(source(repo), TOKEN), GitHubDiscussionsConnector)
    no_url = msgspec.structs.replace(source(repo), url=None)
    with pytest.raises(ConfigError, match="url: required"):
        build_connector(no_url, TOKEN)


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({}, "options.repository"),
        ({"repository": "octo-repo"}, "options.repository"),
        ({"repository": "octo-org/octo-repo", "per_page": 0}, "options.per_page"),
        ({"repository": "octo-org/octo-repo", "per_page": True}, "options.per_page"),
        ({"repository": "octo-org/octo-repo", "site": "x"}, "options.site"),
    ],
)
def test_bad_options_are_refused_naming_the_key(options: dict[str, Any], key: str) -> None:
    config = SourceConfig(
        id="gh", kind="github_discussions", audience="external", url="http://x", options=options
    )
    with pytest.raises(ConfigError, match=key):
        GitHubDiscussionsConnector(config)


def test_an_unreadable_cursor_asks_for_a_reset(repo: GitHubServer) -> None:
    with pytest.raises(ConnectorError, match="not a GitHub Discussions cursor"):
        list(connect(repo).pages('{"updated_at": "yesterday"}'))


# A sync killed with SIGKILL (the pattern of tests/connectors/test_crash.py)


class TrippedGitHub(GitHubServer):
    """`GitHubServer` whose list queries go through a `Tripwire`."""

    def __init__(self, tripwire: Tripwire, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tripwire = tripwire
        _quiet_about_killed_clients(self)

    def answer(self, body: dict[str, Any], headers: Any) -> tuple[int, dict[str, str], Any]:
        if "repository(" not in str(body.get("query")):
            return super().answer(body, headers)
        self.tripwire.enter()
        try:
            return super().answer(body, headers)
        finally:
            self.tripwire.leave()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_sync_killed_mid_walk_resumes_losing_and_duplicating_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_TEST_GH_TOKEN", TOKEN)
    tripwire = Tripwire()
    rng = random.Random(SEED)
    # Sixteen discussions, 48 items, eight list pages of two.
    with TrippedGitHub.scaled(4, tripwire=tripwire, token=TOKEN) as server:
        block = (
            f'[[sources]]\nid = "gh"\nkind = "github_discussions"\naudience = "external"\n'
            f'url = "{server.url}"\ncredentials_env = "WHOKNOWS_TEST_GH_TOKEN"\n'
            '[sources.options]\nrepository = "octo-org/octo-repo"\nper_page = 2\n'
        )
        configs = {
            name: write_config(tmp_path / f"{name}.toml", tmp_path / f"{name}.db", block)
            for name in ("clean", "crashed")
        }

        def run(name: str, block_at: int | None) -> subprocess.Popen[str]:
            tripwire.arm(block_at)
            return start_sync(configs[name], "gh", tmp_path)

        def kill(proc: subprocess.Popen[str]) -> None:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
            tripwire.release()

        def finish(proc: subprocess.Popen[str]) -> None:
            out, _ = proc.communicate(timeout=60)
            tripwire.release()
            assert proc.returncode == 0, out

        finish(run("clean", None))
        first_kill, delay = rng.randint(2, 8), rng.uniform(0.0, 0.03)
        print(f"WHOKNOWS_CRASH_SEED={SEED}: kill at list page {first_kill}, then {delay:.3f} s")
        proc = run("crashed", first_kill)
        assert tripwire.wait(tripwire.is_blocking, lambda: proc.poll() is None)
        kill(proc)
        total = len(crash_snapshot(tmp_path / "clean.db")["contributions"])
        assert 0 < len(crash_snapshot(tmp_path / "crashed.db")["contributions"]) < total
        proc = run("crashed", 3)
        if tripwire.wait(lambda: tripwire.answered >= 1, lambda: proc.poll() is None):
            time.sleep(delay)
            kill(proc)
        else:
            finish(proc)
        finish(run("crashed", None))

    want, got = crash_snapshot(tmp_path / "clean.db"), crash_snapshot(tmp_path / "crashed.db")
    assert got["duplicates"] == [] and len(got["contributions"]) == total == 48
    for part in ("contributions", "identities", "interactions", "cursors", "people"):
        assert got[part] == want[part], part


def test_the_readme_example_loads_and_syncs_with_its_token(
    repo: GitHubServer, tmp_path: Path
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    section = readme.split("### GitHub Discussions", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config_file = tmp_path / "whoknows.toml"
    config_file.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/w.db"\n\n{example}')

    config = load_config(config_file, environ={"OCTO_GITHUB_TOKEN": TOKEN})
    configured = config.source("octo-discussions")
    assert configured is not None and configured.kind == "github_discussions"
    local = msgspec.structs.replace(configured, url=repo.url)  # the same source, served here
    connector = build_connector(local, config.secrets.get("octo-discussions"))

    assert set(by_id(list(connector.pages(None)))) == set(repo.expected())


def test_a_run_that_skipped_a_discussion_flags_no_deletions(repo: GitHubServer) -> None:
    repo.discussions["D_kwDOHq0004"]["createdAt"] = "not a time"  # on the first list page

    pages = list(connect(repo).pages(None))

    assert "D_kwDOHq0004" not in by_id(pages)
    assert any("discussion 4 skipped" in e for p in pages for e in p.errors)
    assert not any(page.complete for page in pages)
