"""The embedded default (no Redis): `POST /v1/sources/{id}/sync` queues a job that a
thread of the API process runs, and `GET /v1/jobs/{id}` follows it, as with workers."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from service.store.schema import contributions
from tests.jobs.conftest import ITEMS, PER_PAGE, CountingPortal, Setup, portal_source


def _stored(setup: Setup) -> int:
    with setup.services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(contributions)).scalar_one())


def _wait_running_at(setup: Setup, client, headers, job_id: str, pages: int):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while True:
        body = client.get(f"/v1/jobs/{job_id}", headers=headers).get_json()
        if body["state"] == "running" and body["progress"]["pages"] == pages:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


def test_a_sync_runs_in_the_api_process_and_its_progress_shows_while_it_runs(
        portal: CountingPortal, make_setup) -> None:  # type: ignore[no-untyped-def]
    setup = make_setup(portal_source(portal))
    client = setup.app().test_client()
    headers = setup.admin(client)
    portal.tripwire.arm(3)  # page 3 waits: two pages are stored

    answer = client.post("/v1/sources/partner-hub/sync", headers=headers)
    assert answer.status_code == 202
    job_id = answer.get_json()["id"]
    assert answer.headers["Location"] == f"/v1/jobs/{job_id}"

    body = _wait_running_at(setup, client, headers, job_id, pages=2)
    assert body["progress"] == {"items": 2 * PER_PAGE, "items_total": ITEMS, "pages": 2,
                                "errors": 0}
    assert body["attempts"] == 1 and body["result"] is None
    # asked again while it runs: a second job waits behind it, and a third request
    # gets that waiting one
    second = client.post("/v1/sources/partner-hub/sync", headers=headers).get_json()
    again = client.post("/v1/sources/partner-hub/sync", headers=headers).get_json()
    assert second["id"] != job_id and second["state"] == "queued"
    assert again["id"] == second["id"]

    portal.tripwire.release()
    done = setup.wait_for(job_id)
    assert done.state == "succeeded", done
    body = client.get(f"/v1/jobs/{job_id}", headers=headers).get_json()
    assert body["result"]["created"] == ITEMS == _stored(setup)
    assert body["result"]["failed"] is None and body["finished_at"]
    assert setup.wait_for(second["id"]).state == "succeeded"
    assert client.get(f"/v1/jobs/{second['id']}", headers=headers).get_json()["result"][
        "created"] == 0
    assert portal.most_in_flight == 1


def test_a_full_pass_flags_what_the_source_no_longer_has(
        portal: CountingPortal, make_setup) -> None:  # type: ignore[no-untyped-def]
    setup = make_setup(portal_source(portal))
    client = setup.app().test_client()
    headers = setup.admin(client)
    first = client.post("/v1/sources/partner-hub/sync", headers=headers).get_json()
    assert setup.wait_for(first["id"]).state == "succeeded"
    del portal.items[:5]
    full = client.post("/v1/sources/partner-hub/sync?full=true", headers=headers).get_json()
    assert full["full"] is True
    assert setup.wait_for(full["id"]).state == "succeeded"
    result = client.get(f"/v1/jobs/{full['id']}", headers=headers).get_json()["result"]
    assert result["deleted"] == 5 and result["created"] == 0


def test_jobs_answer_admins_of_the_internal_audience_only(
        portal: CountingPortal, make_setup) -> None:  # type: ignore[no-untyped-def]
    setup = make_setup(portal_source(portal))
    client = setup.app().test_client()
    headers = setup.admin(client)
    job = client.post("/v1/sources/partner-hub/sync", headers=headers).get_json()
    setup.wait_for(job["id"])
    for audience in ("external", "partner"):
        outsider = setup.admin(client, audience)
        for answer in (client.get(f"/v1/jobs/{job['id']}", headers=outsider),
                       client.get("/v1/jobs", headers=outsider),
                       client.post("/v1/sources/partner-hub/sync", headers=outsider)):
            assert answer.status_code == 403
            text = answer.get_data(as_text=True)
            assert "partner-hub" not in text and portal.url not in text
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 401


def test_malformed_and_unknown_requests_say_what_is_wrong(
        portal: CountingPortal, make_setup) -> None:  # type: ignore[no-untyped-def]
    setup = make_setup(portal_source(portal))
    client = setup.app().test_client()
    headers = setup.admin(client)
    bad = client.post("/v1/sources/partner-hub/sync?full=yes", headers=headers)
    assert bad.status_code == 400 and "full" in bad.get_json()["errors"]
    assert bad.content_type == "application/problem+json"
    assert client.get("/v1/jobs/" + "0" * 32, headers=headers).status_code == 404
    assert client.get("/v1/jobs/" + "x" * 200, headers=headers).status_code == 404
    assert client.post("/v1/sources/nowhere/sync", headers=headers).status_code == 404
    for query, field in (("state=lost", "state"), ("limit=0", "limit"), ("limit=x", "limit"),
                         ("cursor=nope", "cursor")):
        bad = client.get(f"/v1/jobs?{query}", headers=headers)
        assert bad.status_code == 400 and bad.content_type == "application/problem+json"
        assert field in bad.get_json()["errors"], query


def test_the_jobs_are_listed_newest_first_by_source_and_state_a_page_at_a_time(
        portal: CountingPortal, make_setup) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from service.store import jobs as store_jobs

    setup = make_setup(portal_source(portal) + portal_source(portal, "second-hub"))
    client = setup.app().test_client()
    headers = setup.admin(client)
    ran = client.post("/v1/sources/partner-hub/sync", headers=headers).get_json()
    assert setup.wait_for(ran["id"]).state == "succeeded"
    start = datetime.now(UTC) + timedelta(seconds=1)
    with setup.services.engine.begin() as conn:  # earlier runs of another source
        made = [store_jobs.create_job(conn, "second-hub", i % 2 == 0, "ops",
                                      start + timedelta(seconds=i)) for i in range(5)]
        store_jobs.cancel(conn, made[1].id, start, "HTTP 500 from the wiki")

    listed = client.get("/v1/jobs", headers=headers).get_json()
    assert listed["total"] == 6 and listed["next_cursor"] is None
    assert [j["id"] for j in listed["items"]] == [j.id for j in reversed(made)] + [ran["id"]]
    assert listed["items"][-1]["result"]["created"] == ITEMS
    failed = client.get("/v1/jobs?state=failed", headers=headers).get_json()
    assert [j["id"] for j in failed["items"]] == [made[1].id]
    assert failed["items"][0]["error"] == "HTTP 500 from the wiki"
    both = client.get("/v1/jobs?state=failed&state=succeeded", headers=headers).get_json()
    assert both["total"] == 2
    ours = client.get("/v1/jobs?source=partner-hub", headers=headers).get_json()
    assert [j["id"] for j in ours["items"]] == [ran["id"]]
    pages, cursor = [], ""
    while True:
        page = client.get(f"/v1/jobs?limit=2{cursor}", headers=headers).get_json()
        pages.append([j["id"] for j in page["items"]])
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert [len(p) for p in pages] == [2, 2, 2]
    assert sum(pages, []) == [j["id"] for j in listed["items"]]


def test_a_scheduled_source_is_synced_by_the_api_process_itself(
        portal: CountingPortal, make_setup) -> None:  # type: ignore[no-untyped-def]
    source = portal_source(portal).replace('audience = "partner"\n',
                                           'audience = "partner"\nschedule = "every 1h"\n', 1)
    setup = make_setup(source, scheduler_tick_seconds=0.2)
    setup.app()  # no request: its job thread leads the schedules and runs the job
    deadline = time.monotonic() + 30
    while not (found := _jobs_of(setup)):
        assert time.monotonic() < deadline, "no scheduled job"
        time.sleep(0.05)
    assert [job.requested_by for job in found] == ["scheduler"]
    assert setup.wait_for(found[0].id).state == "succeeded"
    assert _stored(setup) == ITEMS
    time.sleep(0.5)  # more rounds: the 1-hour slot is enqueued once
    assert len(_jobs_of(setup)) == 1


def _jobs_of(setup: Setup) -> list:  # type: ignore[type-arg]
    from service.store import jobs as store_jobs
    from service.store.schema import jobs

    with setup.services.engine.connect() as conn:
        ids = conn.execute(select(jobs.c.id)).scalars().all()
        return [store_jobs.get_job(conn, job_id) for job_id in ids]


def test_the_cli_does_not_sync_a_source_a_job_is_syncing(
        portal: CountingPortal, make_setup) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from service.cli import cli

    setup = make_setup(portal_source(portal))
    client = setup.app().test_client()
    headers = setup.admin(client)
    portal.tripwire.arm(2)
    job = client.post("/v1/sources/partner-hub/sync", headers=headers).get_json()
    assert portal.tripwire.wait(portal.tripwire.is_blocking, lambda: True)
    busy = CliRunner().invoke(cli, ["--config", str(setup.config), "sync", "partner-hub"])
    assert busy.exit_code == 1
    assert "another job is syncing this source" in busy.output
    portal.tripwire.release()
    assert setup.wait_for(job["id"]).state == "succeeded"
    assert portal.most_in_flight == 1

    again = CliRunner().invoke(cli, ["--config", str(setup.config), "sync", "partner-hub"])
    assert again.exit_code == 0, again.output
    assert "partner-hub: 0 new" in again.output
    states = sorted((j.requested_by, j.state) for j in _jobs_of(setup))
    assert states == [("cli", "failed"), ("cli", "succeeded"), (states[2][0], "succeeded")]
