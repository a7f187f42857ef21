"""`whoknows topics --trending` and `--activity TOPIC` on the planted community."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import update

from service import pipeline
from service.cli import cli
from service.connectors.base import Page
from service.insight import queries
from service.insight import store as insight_store
from service.store.people import find_identity, person_of
from service.store.schema import insight_state
from tests.insight import planted


def _run(config: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--config", str(config), "topics", *args])


def test_trending_lists_the_planted_burst(config_file: Path,
                                          services: pipeline.Services) -> None:
    planted.load(services)
    result = _run(config_file, "--trending", "--weeks", "52")
    assert result.exit_code == 0, result.output
    assert f"{planted.BURST_TOPIC}: since " in result.output and "peak 20" in result.output


def test_activity_prints_weeks_and_keeps_internal_topics_internal(
    config_file: Path, services: pipeline.Services
) -> None:
    planted.load(services)
    result = _run(config_file, "--activity", "GDPR", "--weeks", "104", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["bursts"]) == 1
    internal = _run(config_file, "--activity", planted.INTERNAL_TAG)
    assert internal.exit_code == 0 and "1 contributions" in internal.output
    external = _run(config_file, "--activity", planted.INTERNAL_TAG, "--audience", "external")
    assert external.exit_code == 1 and "no activity" in external.output
    assert _run(config_file).exit_code == 2  # neither --trending nor --activity


def test_a_request_never_waits_for_a_long_refresh_and_topics_refresh_catches_up(
    config_file: Path, services: pipeline.Services
) -> None:
    """An API push on a big store (last computation 100 s, due) leaves the insight as it
    was; the scheduled `whoknows topics --refresh` brings the pushed contribution in."""

    planted.load(services)
    with services.engine.begin() as conn:  # due: computed a day ago, in 100 s
        insight_store.record_state(conn, datetime.now(UTC), 100.0)
        conn.execute(update(insight_state).values(
            computed_at=datetime.now(UTC) - timedelta(days=1)))
    services.serving = True  # as the API app sets it
    new = planted._rec("new-1", "newcomer", "question", datetime.now(UTC) - timedelta(days=2),
                       ["gdpr"])
    pipeline.ingest_pages(services, "forum", [Page([new], cursor=None)], full_pass=False)

    def recent() -> list[str]:
        with services.engine.connect() as conn:
            person = person_of(conn, find_identity(conn, "forum", "newcomer"))  # type: ignore[arg-type]
            return [t["topic"] for t in queries.recent_topics(conn, "all", person)]  # type: ignore[arg-type]

    assert recent() == []
    result = _run(config_file, "--refresh")
    assert result.exit_code == 0, result.output
    assert recent() == [planted.BURST_TOPIC]
