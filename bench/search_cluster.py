"""Benchmark the search-cluster engine beside the embedded one, on the same store and queries.

    python bench/search_cluster.py [--db bench/out/bench.db] [--data bench/out/data]
                                   [--url URL --flavor opensearch|elasticsearch] [--queries 300]

Copies the store with SQLite's backup API (the original is left as it is), starts
osmem-server on a random port unless --url names a cluster, builds the cluster index from
the copy through the engine's own `rebuild` (store -> bulk helper -> alias swap), then
times the same queries (every third one for the external audience, as bench/run.py does)
through both engines' `ExpertIndex.search`, after one untimed pass over the first 30.
Prints one JSON object. The local server is a test server, not a production cluster: its
figures show the engine's overhead and shape, not what a sized cluster does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from run import SOURCES, _search  # bench/run.py: one way to time searches

from service import pipeline
from service.config import load_config
from service.model import Audience
from service.search.base import ExpertQuery
from service.search.sqlite import SqliteExpertIndex


def _copy(db: Path, folder: Path) -> Path:
    copy = folder / "bench.db"
    started = time.perf_counter()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as source, \
            sqlite3.connect(copy) as target:
        source.backup(target, pages=65536)
    print(f"  copied {db} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return copy


def _config(db: Path, url: str, flavor: str) -> Path:
    path = db.with_suffix(".toml")
    lines = [f'[database]\nurl = "sqlite:///{db}"\n',
             f'[search]\nengine = "elasticsearch"\nflavor = "{flavor}"\nurl = "{url}"\n'
             f'index_prefix = "bench-{uuid.uuid4().hex[:6]}-"\n']
    for source_id, audience in SOURCES:
        lines.append(f'[[sources]]\nid = "{source_id}"\nkind = "push"\naudience = "{audience}"\n')
    path.write_text("\n".join(lines))
    return path


def _warm(index: Any, queries: list[str]) -> None:
    for index_, text in enumerate(queries[:30]):
        audience = Audience.EXTERNAL if index_ % 3 == 2 else Audience.INTERNAL
        index.search(ExpertQuery(text=text, audience=audience, limit=10))


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        return None
    return None


def _watch(server: Any, limit_mb: int) -> None:
    """Stop the local server if it outgrows `limit_mb` (it holds the whole index in memory,
    on a machine shared with others): the bench then fails instead of the machine."""
    def watch() -> None:
        while server.process.poll() is None:
            rss = _rss_mb(server.pid) or 0
            if rss > limit_mb:
                print(f"  osmem-server at {rss} MB > {limit_mb} MB: stopping it",
                      file=sys.stderr)
                server.process.kill()
                return
            time.sleep(1)

    threading.Thread(target=watch, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, default=Path("bench/out/bench.db"))
    parser.add_argument("--data", type=Path, default=Path("bench/out/data"))
    parser.add_argument("--url", default=None, help="a cluster (default: start osmem-server)")
    parser.add_argument("--flavor", choices=["opensearch", "elasticsearch"],
                        default="opensearch")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--max-server-mb", type=int, default=17000,
                        help="stop the local server beyond this resident size; its Go "
                             "runtime is asked to stay 3 GB below (GOMEMLIMIT)")
    args = parser.parse_args()
    queries = [q for q in (args.data / "queries.txt").read_text().splitlines() if q.strip()]
    queries = queries[: args.queries]
    server = None
    if args.url is None:
        from osmem_server import OsmemServer

        # the server inherits the environment: its garbage collector works harder rather
        # than let the heap grow past this
        os.environ["GOMEMLIMIT"] = f"{max(1000, args.max_server_mb - 3000)}MiB"
        server = OsmemServer.start(freeze=False, japanese=False)
        _watch(server, args.max_server_mb)
    url = args.url or server.url  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory(prefix="whoknows-bench-") as folder:
        db = _copy(args.db, Path(folder))
        services = pipeline.open_services(load_config(_config(db, url, args.flavor),
                                                      environ={}))
        print("  building the cluster index", file=sys.stderr)
        started = time.perf_counter()
        documents = pipeline.reindex(services)
        seconds = time.perf_counter() - started
        figures: dict[str, Any] = {
            "machine": f"{platform.machine()}, {platform.python_implementation()} "
                       f"{platform.python_version()}, {os.cpu_count()} cores",
            "date": datetime.now(UTC).date().isoformat(),
            "cluster": {"url": "osmem-server (local)" if server else url,
                        "flavor": args.flavor,
                        "version": services.index.cluster.info()["version"]["number"]},  # type: ignore[union-attr]
            "bulk_index": {"documents": documents, "seconds": round(seconds, 1),
                           "per_second": round(documents / seconds)},
        }
        if server:
            figures["cluster"]["server_rss_mb"] = _rss_mb(server.pid)
        print(f"  {json.dumps(figures)}\n  searching the cluster engine", file=sys.stderr)
        _warm(services.index, queries)
        figures["search_cluster"] = _search(services, queries)
        print(f"  {json.dumps(figures['search_cluster'])}\n  searching the sqlite engine",
              file=sys.stderr)
        services.index = SqliteExpertIndex(services.engine, services.vocabulary)
        _warm(services.index, queries)
        figures["search_sqlite"] = _search(services, queries)
        services.engine.dispose()
    if server:
        server.close()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
