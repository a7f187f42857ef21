"""Sync jobs on real `whoknows worker` processes and the real Redis: progress visible
through the API while a worker syncs and a SIGTERM that hands the job on, one sync per
source with two workers (PostgreSQL), and a worker killed with SIGKILL mid-sync whose job
is retried from the last stored page.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from service.jobs.dispatch import deliver, open_queue
from service.store import jobs as store_jobs
from tests.connectors.crashsite import snapshot
from tests.deploy.test_production import free_port
from tests.jobs.conftest import ITEMS, PER_PAGE, CountingPortal, Workers, portal_source

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def test_a_worker_shows_its_progress_and_on_sigterm_hands_the_job_to_the_next(
        portal: CountingPortal, make_setup, redis_queue: str, workers: Workers,  # type: ignore[no-untyped-def]
) -> None:
    setup = make_setup(portal_source(portal), queue=redis_queue)
    client = setup.app().test_client()
    headers = setup.admin(client)
    portal.tripwire.arm(4)  # the fourth page request waits: three pages stored
    port = free_port()
    stopping = workers.start(setup.config, f"--health-port={port}")

    answer = client.post("/v1/sources/partner-hub/sync", headers=headers)
    assert answer.status_code == 202
    job_id = answer.get_json()["id"]
    assert portal.tripwire.wait(portal.tripwire.is_blocking, lambda: stopping.poll() is None)
    deadline = time.monotonic() + 30
    while (body := client.get(f"/v1/jobs/{job_id}", headers=headers).get_json())[
            "progress"]["pages"] < 3:
        assert time.monotonic() < deadline, body
        time.sleep(0.02)
    assert body["state"] == "running" and body["attempts"] == 1
    assert body["progress"] == {"items": 3 * PER_PAGE, "items_total": ITEMS, "pages": 3,
                                "errors": 0}
    # the probe the chart sets: alive while a job runs
    health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert health.status_code == 200 and health.json() == {"status": "ok"}

    # a pod stopped: the page in hand is stored, the job goes back to the queue
    stopping.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    portal.tripwire.release()
    assert stopping.wait(timeout=30) == 0, workers.logs()
    put_back = client.get(f"/v1/jobs/{job_id}", headers=headers).get_json()
    assert put_back["state"] == "queued" and put_back["progress"]["pages"] == 4

    successor = workers.start(setup.config)
    done = setup.wait_for(job_id, alive=lambda: successor.poll() is None)
    assert done.state == "succeeded" and done.attempts == 2, workers.logs()
    result = client.get(f"/v1/jobs/{job_id}", headers=headers).get_json()["result"]
    # the second run started after the four stored pages
    assert result["created"] == ITEMS - 4 * PER_PAGE


@pytest.mark.postgres
def test_two_workers_never_sync_one_source_at_once(
        portal: CountingPortal, make_setup, redis_queue: str, workers: Workers,  # type: ignore[no-untyped-def]
) -> None:
    setup = make_setup(portal_source(portal), store="postgresql", queue=redis_queue,
                       lease_seconds=4)
    portal.page_seconds = 0.03  # long enough for two syncs to overlap, were they allowed
    for _ in range(2):
        workers.start(setup.config)
    # three jobs of one source delivered at once (the API would merge the waiting ones;
    # the store does not rely on that)
    queue = open_queue(setup.services)
    with setup.services.engine.begin() as conn:
        ids = [store_jobs.create_job(conn, "partner-hub", full, "test",
                                     datetime.now(UTC)).id for full in (False, True, False)]
    for job_id in ids:
        deliver(setup.services, queue, job_id)

    done = [setup.wait_for(job_id, timeout=90) for job_id in ids]
    assert [job.state for job in done] == ["succeeded"] * 3, workers.logs()
    assert portal.most_in_flight == 1
    spans = sorted((job.started_at, job.finished_at) for job in done)
    for (_, finished), (started, _) in zip(spans, spans[1:], strict=False):
        assert finished is not None and started is not None and finished <= started
    assert all(job.attempts == 1 for job in done)


def test_a_worker_killed_mid_sync_leaves_its_job_retried_to_the_source_s_store(
        portal: CountingPortal, make_setup, redis_queue: str, workers: Workers,  # type: ignore[no-untyped-def]
        tmp_path: Path) -> None:
    clean = make_setup(portal_source(portal), name="clean")
    setup = make_setup(portal_source(portal), queue=redis_queue, name="crashed",
                       lease_seconds=2)
    portal.tripwire.arm(None)
    clean_app = clean.app().test_client()
    first = clean_app.post("/v1/sources/partner-hub/sync", headers=clean.admin(clean_app))
    assert clean.wait_for(first.get_json()["id"]).state == "succeeded"

    client = setup.app().test_client()
    headers = setup.admin(client)
    portal.tripwire.arm(5)  # four pages stored when the kill lands
    doomed = workers.start(setup.config)
    job_id = client.post("/v1/sources/partner-hub/sync", headers=headers).get_json()["id"]
    assert portal.tripwire.wait(portal.tripwire.is_blocking, lambda: doomed.poll() is None)
    setup.wait_for(job_id, states=("running",))
    workers.kill(doomed)
    portal.tripwire.release()
    killed = setup.job(job_id)
    assert killed.state == "running" and killed.pages == 4  # as the dead worker left it

    rescuer = workers.start(setup.config)
    done = setup.wait_for(job_id, alive=lambda: rescuer.poll() is None)
    assert done.state == "succeeded" and done.attempts == 2, workers.logs()
    # the second run started from the cursor: the four stored pages were not read again
    assert done.result is not None and done.result["created"] == ITEMS - 4 * PER_PAGE
    assert setup.db is not None and clean.db is not None
    want, got = snapshot(clean.db), snapshot(setup.db)
    assert got["duplicates"] == []
    assert len(got["contributions"]) == ITEMS
    assert got["contributions"] == want["contributions"]
    assert got["identities"] == want["identities"]
    assert got["interactions"] == want["interactions"]
    assert got["cursors"] == want["cursors"]
    assert got["people"] == want["people"]
