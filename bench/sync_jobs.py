"""Benchmark sync jobs: throughput of 1 and 2 `whoknows worker` processes syncing two
sources (a Discourse forum and a partner portal, bench/replay.py's servers in a process of
their own) into a fresh store, through the real Redis queue.

    python bench/sync_jobs.py [--redis redis://127.0.0.1:6379/0] [--topics 300]
                              [--portal-items 3000] [--workers 1 2] [--repeat 1]

For each worker count: a fresh SQLite store, that many workers started and registered on
a queue of their own, then both sources' jobs submitted at once (as two `POST
/v1/sources/{id}/sync` would); timed from the submission until both jobs have succeeded:
fetch, map, store, index, identities and profiles, as a real sync does. Worker start-up
is not timed. Prints a table and one JSON line. Not a test: it asserts only that every
item was stored.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import replay

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from service import pipeline  # noqa: E402
from service.config import load_config  # noqa: E402
from service.jobs.dispatch import open_queue, submit_sync  # noqa: E402
from service.store import jobs as store_jobs  # noqa: E402


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return "[" + ", ".join(_toml(v) for v in value) + "]"


def write_config(folder: Path, urls: dict[str, Any], redis_url: str, queue: str) -> Path:
    portal = {**replay.PORTAL_OPTIONS, "per_page": 100}
    text = f"""[database]
url = "sqlite:///{folder / 'whoknows.db'}"

[jobs]
redis_url = "{redis_url}"
queue = "{queue}"

[[sources]]
id = "forum"
kind = "discourse"
audience = "external"
url = "{urls['discourse']['url']}"

[[sources]]
id = "portal"
kind = "jsonfeed"
audience = "partner"
url = "{urls['jsonfeed']['url']}"
options = {_toml(portal)}
"""
    path = folder / "whoknows.toml"
    path.write_text(text, encoding="utf-8")
    return path


def start_workers(config: Path, count: int, folder: Path) -> list[subprocess.Popen[bytes]]:
    script = Path(sys.executable).with_name("whoknows")
    command = [str(script)] if script.exists() else [
        sys.executable, "-c", "from service.cli import main; main()"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return [subprocess.Popen([*command, "--config", str(config), "worker"], cwd=folder, env=env,
                             stdout=(folder / f"worker-{n}.log").open("wb"),
                             stderr=subprocess.STDOUT) for n in range(count)]


def wait_registered(redis_url: str, queue: str, count: int, timeout: float = 120) -> None:
    import redis
    from rq import Queue, Worker

    connection = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while len(Worker.all(queue=Queue(queue, connection=connection))) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} workers did not register on {queue!r}")
        time.sleep(0.1)


def run_once(urls: dict[str, Any], redis_url: str, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wk-bench-jobs-") as tmp:
        folder = Path(tmp)
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        config = write_config(folder, urls, redis_url, queue)
        services = pipeline.open_services(load_config(config, environ={}))
        procs = start_workers(config, workers, folder)
        try:
            wait_registered(redis_url, queue, workers)
            job_queue = open_queue(services)
            started = time.perf_counter()
            jobs = [submit_sync(services, job_queue, source, False, "bench")[0]
                    for source in ("forum", "portal")]
            finished: dict[str, store_jobs.Job] = {}
            while len(finished) < len(jobs):
                with services.engine.connect() as conn:
                    for job in jobs:
                        found = store_jobs.get_job(conn, job.id)
                        if found and found.state in ("succeeded", "failed"):
                            finished[job.id] = found
                time.sleep(0.05)
            seconds = time.perf_counter() - started
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=60)
            services.engine.dispose()
        done = list(finished.values())
        assert all(job.state == "succeeded" for job in done), done
        items = sum(job.result["created"] for job in done if job.result)
        per_job = {job.source_id: round((job.finished_at - job.started_at).total_seconds(), 2)
                   for job in done if job.finished_at and job.started_at}
        return {"workers": workers, "seconds": round(seconds, 2), "items": items,
                "items_per_second": round(items / seconds), "job_seconds": per_job}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--topics", type=int, default=300)
    parser.add_argument("--portal-items", type=int, default=3000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    scale = replay.Scale(topics=args.topics, portal_items=args.portal_items)
    context = multiprocessing.get_context("spawn")
    ours_end, server_end = context.Pipe()
    server = context.Process(target=replay.serve, args=(server_end, scale), daemon=True)
    server.start()
    urls = json.loads(ours_end.recv())
    try:
        results = [run_once(urls, args.redis, count)
                   for count in args.workers for _ in range(args.repeat)]
    finally:
        ours_end.send("stop")
        server.join(10)
    print(f"forum: {urls['discourse']['data']}; portal: {urls['jsonfeed']['data']}")
    print(f"{'workers':>7} {'seconds':>8} {'items':>6} {'items/s':>8}  per job (s)")
    for result in results:
        print(f"{result['workers']:>7} {result['seconds']:>8} {result['items']:>6} "
              f"{result['items_per_second']:>8}  {result['job_seconds']}")
    print(json.dumps({"machine": f"{platform.machine()} {os.cpu_count()} cores, "
                      f"Python {platform.python_version()}", "results": results}))


if __name__ == "__main__":
    main()
