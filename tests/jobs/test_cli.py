"""The worker and scheduler commands: what they refuse without Redis, `scheduler --once`,
and the health endpoint their probes read."""

from __future__ import annotations

import time

import requests
from click.testing import CliRunner

from service.cli import cli
from service.jobs.health import Heartbeat
from tests.deploy.test_production import free_port
from tests.jobs.conftest import CountingPortal, portal_source


def test_worker_and_scheduler_say_they_need_redis(portal: CountingPortal, make_setup) -> None:  # type: ignore[no-untyped-def]
    setup = make_setup(portal_source(portal))
    for command in ("worker", "scheduler"):
        done = CliRunner().invoke(cli, ["--config", str(setup.config), command])
        assert done.exit_code == 1
        assert "redis_url" in done.output and "WHOKNOWS_JOBS_REDIS_URL" in done.output


def test_scheduler_once_queues_what_is_due_and_no_more(
        portal: CountingPortal, make_setup, redis_queue: str) -> None:  # type: ignore[no-untyped-def]
    source = portal_source(portal).replace('audience = "partner"\n',
                                           'audience = "partner"\nschedule = "every 1h"\n', 1)
    setup = make_setup(source, queue=redis_queue)
    first = CliRunner().invoke(cli, ["--config", str(setup.config), "scheduler", "--once"])
    assert first.exit_code == 0, first.output
    assert "incremental sync of partner-hub" in first.output
    again = CliRunner().invoke(cli, ["--config", str(setup.config), "scheduler", "--once"])
    assert again.exit_code == 0 and "queued job" not in again.output


def test_the_health_endpoint_fails_once_the_loop_stops_beating() -> None:
    heartbeat = Heartbeat(max_age=0.3)
    port = free_port()
    server = heartbeat.serve(port, host="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{port}"
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
        time.sleep(0.4)
        stalled = requests.get(f"{url}/healthz", timeout=5)
        assert stalled.status_code == 503 and stalled.json() == {"status": "stalled"}
        heartbeat.beat()
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
        assert requests.get(f"{url}/other", timeout=5).status_code == 404
    finally:
        server.shutdown()
        server.server_close()
