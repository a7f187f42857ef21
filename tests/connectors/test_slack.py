from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service import pipeline
from service.config import ConfigError, SourceConfig, load_config
from service.connectors import build_connector
from service.connectors.base import ConnectorError, FatalSourceError, Page
from service.connectors.http import HttpClient
from service.connectors.slack import SlackConnector
from service.model import ContributionKind, ContributionRecord
from service.store import sync as store_sync
from service.store.schema import contributions, identities
from tests.connectors.crashsite import Tripwire, snapshot, start_sync, write_config
from tests.connectors.faults import FaultPlan, Rates
from tests.connectors.slack_server import TOKEN, SlackServer
from tests.connectors.test_under_faults import EVERY_FAULT, check_sync_under_faults

Services = pipeline.Services
CHANNELS = ["ask-claims", "#ask-it"]
# The workspace's contributions: (channel:ts, kind, author, accepted, likes)
EXPECTED = {
    ("C0QA00001:1714640071.220009", "question", "U01ASKER1", False, 0),
    ("C0QA00001:1714640500.100200", "answer", "U02EXPERT", True, 2),
    ("C0QA00001:1714641000.000300", "answer", "U03HELPER", False, 1),
    ("C0QA00001:1714641200.000400", "reply", "U01ASKER1", False, 0),
    ("C0QA00001:1714700000.000100", "question", "U04NEWBIE", False, 0),
    ("C0QA00001:1714700100.000200", "answer", "U03HELPER", True, 0),
    ("C0QA00001:1714700200.000300", "reply", "U04NEWBIE", False, 0),
    ("C0QA00001:1714720000.000100", "question", "U02EXPERT", False, 2),
    ("C0QA00002:1714800000.000100", "question", "U03HELPER", False, 0),
    ("C0QA00002:1714800300.000200", "answer", "U02EXPERT", True, 1),
    ("C0QA00002:1714800400.000300", "answer", "U01ASKER1", False, 0),
    ("C0QA00002:1714900100.000200", "answer", "U04NEWBIE", False, 0),
}


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


def connector(
    server: SlackServer, client: HttpClient | None = None, token: str | None = TOKEN,
    **options: Any,
) -> SlackConnector:
    source = SourceConfig(id="blog", kind="slack", audience="internal", url=server.url,
                          options={"channels": CHANNELS, **options})
    client = client or HttpClient(max_attempts=3, backoff_base=0.01, sleep=lambda _: None)
    return SlackConnector(source, client, token)


def records(pages: list[Page]) -> dict[str, ContributionRecord]:
    return {record.id: record for page in pages for record in page.records}


def sync(services: Services, reader: SlackConnector) -> pipeline.SyncReport:
    with services.engine.connect() as conn:
        cursor = store_sync.get_cursor(conn, "blog")
    return pipeline.ingest_pages(services, "blog", reader.pages(cursor), full_pass=cursor is None)


def rows(services: Services) -> dict[str, Any]:
    with services.engine.connect() as conn:
        people = {r.id: r for r in conn.execute(select(identities))}
        found = list(conn.execute(select(contributions)))
    return {r.external_id: (r, people[r.author_identity_id]) for r in found}


def summary(services: Services) -> set[tuple[Any, ...]]:
    return {(key, row.kind, person.external_id, row.accepted, row.likes)
            for key, (row, person) in rows(services).items() if not row.deleted}


# A clean sync


def test_a_clean_sync_stores_every_message_once_with_authors_answers_and_likes(
    slack: SlackServer, services: Services
) -> None:
    report = sync(services, connector(slack, page_size=2))

    assert report.failed is None
    assert summary(services) == EXPECTED
    stored = rows(services)
    assert len(stored) == len(EXPECTED)  # bots, joins, the tombstone, the broadcast's copy
    assert {row.audience for row, _ in stored.values()} == {"internal"}
    _, priya = stored["C0QA00001:1714640071.220009"]
    assert (priya.username, priya.display_name, priya.email) == (
        "priya", "Priya Raman", "priya.raman@acme.example")
    assert priya.profile_url == "https://acme-benefits.slack.com/team/U01ASKER1"
    # every list was walked by its cursor
    assert slack.count("users.list") == 3 and slack.count("conversations.list") == 2


def test_messages_map_to_text_titles_links_and_times(slack: SlackServer) -> None:
    posts = records(list(connector(slack).pages(None)))

    question = posts["C0QA00001:1714640071.220009"]
    assert question.kind is ContributionKind.QUESTION
    assert question.title == "How do I appeal a denied dental claim?"
    assert question.text.endswith("sent X-rays. @jonas any idea?")
    assert question.tags == ["ask-claims"] and question.replies == 2
    assert question.url == "https://acme-benefits.slack.com/archives/C0QA00001/p1714640071220009"
    answer = posts["C0QA00001:1714640500.100200"]
    assert answer.text.startswith("File form DC-7 within 60 days of the denial & ask")
    assert answer.thread == answer.parent == question.id
    assert answer.url and answer.url.endswith("?thread_ts=1714640071.220009&cid=C0QA00001")
    assert [p.id for p in answer.liked_by] == ["U01ASKER1", "U03HELPER"]
    psa = posts["C0QA00001:1714720000.000100"]
    assert psa.updated is not None and psa.updated.timestamp() == 1714720600
    assert "#random" in posts["C0QA00002:1714800300.000200"].text


def test_pages_come_oldest_thread_first_and_the_full_pass_ends_complete(
    slack: SlackServer,
) -> None:
    pages = list(connector(slack).pages(None))

    firsts = [page.records[0].created for page in pages if page.records]
    assert firsts == sorted(firsts[:3]) + sorted(firsts[3:])  # per channel, oldest first
    assert [page.complete for page in pages] == [False] * (len(pages) - 1) + [True]


def test_the_accepted_reaction_and_thanks_can_be_configured(slack: SlackServer) -> None:
    posts = records(list(connector(slack, accepted_reaction="pray", thanks=False).pages(None)))

    accepted = {key for key, record in posts.items() if record.accepted}
    assert accepted == set()  # pray came from someone who did not ask
    slack.react("C0QA00002", "1714800300.000200", "pray", "U03HELPER")
    posts = records(list(connector(slack, accepted_reaction=":pray:").pages(None)))
    accepted = {key for key, record in posts.items() if record.accepted}
    # the last two by the asker's thanks: the last answer before it
    assert accepted == {"C0QA00002:1714800300.000200", "C0QA00001:1714641000.000300",
                        "C0QA00001:1714700100.000200"}


# Errors


def test_a_missing_or_refused_token_is_fatal(slack: SlackServer) -> None:
    with pytest.raises(FatalSourceError, match="bot token"):
        list(connector(slack, token=None).pages(None))
    with pytest.raises(FatalSourceError, match="invalid_auth"):
        list(connector(slack, token="xoxb-wrong").pages(None))
    slack.refuse("conversations.history", "missing_scope")
    with pytest.raises(FatalSourceError, match="missing_scope"):
        list(connector(slack).pages(None))


def test_a_channel_the_bot_is_not_in_is_skipped_and_the_pass_not_complete(
    slack: SlackServer,
) -> None:
    pages = list(connector(slack, channels=["ask-legal", "ask-it", "no-such"]).pages(None))

    errors = [e for page in pages for e in page.errors]
    assert any("'no-such' skipped: not found" in e for e in errors)
    assert any("#ask-legal skipped: not_in_channel" in e for e in errors)
    assert not any(page.complete for page in pages)
    assert {r.id.split(":")[0] for r in records(pages).values()} == {"C0QA00002"}


def test_another_slack_error_ends_the_run_as_a_connector_error(slack: SlackServer) -> None:
    slack.refuse("conversations.replies", "internal_error")
    with pytest.raises(ConnectorError, match="Slack says internal_error"):
        list(connector(slack).pages(None))


def test_a_429_is_retried_after_the_seconds_it_names(slack: SlackServer) -> None:
    waits: list[float] = []
    client = HttpClient(max_attempts=4, backoff_base=0.01, sleep=waits.append)
    slack.throttle("conversations.history", 7, times=2)

    pages = list(connector(slack, client).pages(None))

    assert waits == [7.0, 7.0] and slack.count("conversations.history") == 4
    assert len(records(pages)) == len(EXPECTED)


def test_a_ratelimited_body_without_a_429_ends_the_run_to_be_resumed(
    slack: SlackServer,
) -> None:
    slack.refuse("users.list", "ratelimited")
    with pytest.raises(ConnectorError, match="Slack says ratelimited"):
        list(connector(slack).pages(None))


def test_a_list_whose_pages_always_repeat_stops_the_walk(slack: SlackServer) -> None:
    slack.plan = FaultPlan(rates=Rates(error=0, throttle=0, truncated=0, slow=0, repeat=1.0))
    with pytest.raises(ConnectorError, match="repeat a cursor"):
        list(connector(slack, page_size=1).pages(None))


def test_options_are_checked_and_named(slack: SlackServer) -> None:
    for options, key in (
        ({"channels": []}, "channels"),
        ({"channels": "ask-it"}, "channels"),
        ({"window_days": 0}, "window_days"),
        ({"page_size": 1000}, "page_size"),
        ({"thanks": "yes"}, "thanks"),
        ({"channel": ["x"]}, "channel"),
    ):
        with pytest.raises(ConfigError, match=f"options.{key}"):
            connector(slack, **options)


def test_an_unreadable_cursor_asks_for_a_reset(slack: SlackServer) -> None:
    with pytest.raises(ConnectorError, match="not a Slack cursor"):
        list(connector(slack).pages('{"C0QA00001": {"ts": "yesterday"}}'))


# Faults


def test_a_sync_under_every_fault_ends_with_the_store_of_a_clean_sync(
    open_store: Callable[[str], Services],
) -> None:
    figures = _under(FaultPlan(seed=1), 10, EVERY_FAULT, open_store)
    assert figures["stored"] == 10 * len(EXPECTED)


def test_a_burst_of_429s_is_waited_out_without_a_request_inside_the_window(
    open_store: Callable[[str], Services],
) -> None:
    rates = Rates(error=0, throttle=0.25, truncated=0, slow=0, repeat=0)
    figures = _under(FaultPlan(seed=2, rates=rates), 3, {"throttle"}, open_store)
    assert figures["faults"]["throttle"] >= 3 and figures["retries"] >= 3


def _under(plan: FaultPlan, copies: int, faults: set[str],
           open_store: Callable[[str], Services]) -> dict[str, Any]:
    """`check_sync_under_faults` against the workspace `copies` times over."""
    with SlackServer.scaled(copies) as server:

        def attach(chosen: FaultPlan | None) -> None:
            server.plan = chosen

        return check_sync_under_faults(
            plan, attach, lambda: _faulty_connector(server), open_store, "blog", faults
        )


def _faulty_connector(server: SlackServer) -> SlackConnector:
    client = HttpClient(timeout=0.4, backoff_base=0.01, backoff_max=0.2)
    return connector(server, client, page_size=3)


# Incremental runs


def test_an_incremental_run_catches_new_edited_and_deleted_messages_and_new_replies(
    slack: SlackServer, services: Services
) -> None:
    assert sync(services, connector(slack)).failed is None
    old = "1714640071.220009"  # the oldest thread
    slack.post("C0QA00001", "U04NEWBIE", "Does this apply to vision claims too?",
               "1714950000.000100", thread_ts=old)
    slack.post("C0QA00002", "U04NEWBIE", "How do I reset my SSO password?", "1714960000.000100")
    slack.edit("C0QA00001", "1714700100.000200", "It's under *Forms* > Reimbursement.",
               "1714955000.000000")
    slack.delete("C0QA00001", "1714641000.000300")  # an answer
    slack.delete("C0QA00001", "1714700200.000300")  # the asker's reply (the thanks)
    slack.delete("C0QA00002", "1714800000.000100")  # a question with answers: a tombstone
    slack.react("C0QA00001", "1714641200.000400", "heart", "U02EXPERT")
    slack.requests.clear()

    report = sync(services, connector(slack))

    assert report.failed is None
    stored = rows(services)
    follow_up, asker = stored["C0QA00001:1714950000.000100"]
    assert follow_up.kind == "answer" and follow_up.thread_external_id == f"C0QA00001:{old}"
    assert stored["C0QA00002:1714960000.000100"][0].kind == "question"
    assert stored["C0QA00001:1714700100.000200"][0].body == "It's under *Forms* > Reimbursement."
    gone, author = stored["C0QA00001:1714641000.000300"]
    assert gone.deleted and author.external_id == "U03HELPER" and gone.kind == "answer"
    gone, author = stored["C0QA00001:1714700200.000300"]
    assert gone.deleted and author.external_id == "U04NEWBIE" and gone.kind == "reply"
    assert not stored["C0QA00001:1714700100.000200"][0].accepted  # thanks gone with it
    question, author = stored["C0QA00002:1714800000.000100"]
    assert question.deleted and author.external_id == "U03HELPER"
    assert stored["C0QA00001:1714641200.000400"][0].likes == 1
    assert stored[f"C0QA00001:{old}"][0].replies == 2  # Jonas, and Tom now (Mei deleted)
    assert not stored["C0QA00002:1714800300.000200"][0].deleted
    # history is read from the window's oldest thread on, not from the start
    history = [q for m, q in slack.requests if m == "conversations.history"]
    assert all(float(q["oldest"]) > 1714640000 for q in history)

    again = sync(services, connector(slack))
    assert again.failed is None and again.batch.changed_ids == []


def test_a_thread_quiet_for_longer_than_the_window_is_no_longer_read(
    slack: SlackServer,
) -> None:
    pages = list(connector(slack, window_days=1).pages(None))
    slack.requests.clear()

    list(connector(slack, window_days=1).pages(pages[-1].cursor))

    threads = {q["ts"] for m, q in slack.requests if m == "conversations.replies"}
    # ask-claims' newest message is 1714720000: the thread of 1714640071 (last reply
    # 1714641200) is within a day of it, ask-it's 1714800000 is not of 1714900000
    assert threads == {"1714640071.220009", "1714700000.000100", "1714900000.000100"}


# A sync killed with SIGKILL


class _TrippedSlack(SlackServer):
    """Thread requests (`conversations.replies`) go through a `Tripwire`."""

    def __init__(self, tripwire: Tripwire, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tripwire = tripwire

    def answer(self, method: str, query: dict[str, str], auth: str | None) -> dict[str, Any]:
        if method != "conversations.replies":
            return super().answer(method, query, auth)
        self.tripwire.enter()
        try:
            return super().answer(method, query, auth)
        finally:
            self.tripwire.leave()


def test_a_sync_killed_with_sigkill_resumes_losing_and_duplicating_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_TEST_SLACK_TOKEN", TOKEN)
    with _TrippedSlack(Tripwire()) as server:
        server.messages = SlackServer.scaled(2).messages
        source = (
            f'[[sources]]\nid = "slack"\nkind = "slack"\naudience = "internal"\n'
            f'url = "{server.url}"\ncredentials_env = "WHOKNOWS_TEST_SLACK_TOKEN"\n'
            f'options = {{ channels = ["ask-claims", "ask-it"], page_size = 2 }}\n'
        )
        clean = write_config(tmp_path / "clean.toml", tmp_path / "clean.db", source)
        crashed = write_config(tmp_path / "crashed.toml", tmp_path / "crashed.db", source)
        _run(clean, server)  # in this process: only the killed run needs its own
        threads = server.tripwire.count  # replies requests of a whole run

        server.tripwire.arm(threads // 2)
        proc = start_sync(crashed, "slack", tmp_path)
        assert server.tripwire.wait(server.tripwire.is_blocking, lambda: proc.poll() is None)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        server.tripwire.release()
        assert proc.returncode == -signal.SIGKILL
        stored = len(snapshot(tmp_path / "crashed.db")["contributions"])
        assert 0 < stored < 2 * len(EXPECTED)

        _run(crashed, server)

    want, got = snapshot(tmp_path / "clean.db"), snapshot(tmp_path / "crashed.db")
    assert got["duplicates"] == [] and len(got["contributions"]) == 2 * len(EXPECTED)
    assert got["contributions"] == want["contributions"]
    assert got["identities"] == want["identities"]
    assert got["interactions"] == want["interactions"]


def _run(config: Path, server: _TrippedSlack) -> None:
    server.tripwire.arm(None)
    services = pipeline.open_services(
        load_config(config, environ={"WHOKNOWS_TEST_SLACK_TOKEN": TOKEN}))
    try:
        report = pipeline.sync_source(
            services, "slack", lambda s: build_connector(s, services.config.secrets.get(s.id)))
    finally:
        services.engine.dispose()
    assert report.failed is None, report.failed


# Configuration


README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_example_configures_a_slack_source(tmp_path: Path) -> None:
    section = README.read_text("utf-8").split("### Slack", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "whoknows.toml"
    path.write_text(example, encoding="utf-8")

    config = load_config(path, environ={"SLACK_BOT_TOKEN": "xoxb-1"})

    source = config.source("slack-qa")
    assert source is not None and config.secrets["slack-qa"] == "xoxb-1"
    reader = build_connector(source, config.secrets.get("slack-qa"))
    assert isinstance(reader, SlackConnector)
    assert reader.options.channels == ("ask-it", "ask-claims", "C0QA00002")
    assert reader.options.window_days == 30
