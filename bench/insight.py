"""Community insight on the 1 M-contribution store: the precompute, then the trending,
graph and group endpoints through the Flask app (test client, one process).

    python bench/insight.py --db bench/out/insight.db [--requests 200] [--skip-precompute]

Use a COPY of bench/out/bench.db (the precompute writes the insight tables). Prints the
precompute time (topics, as a sync computes them and a rebuild hands them over, then the
rest), the table sizes and p50/p99 per endpoint (half the calls internal,
half external), as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from service import insight, pipeline
from service.api import create_app
from service.batch import gc_paused
from service.config import load_config
from service.insight import precompute
from service.insight import store as insight_store
from service.store import clients as store_clients
from service.store import queries

#: the configuration bench/run.py wrote for the 1 M store (its sources), pointed at the copy
BENCH_CONFIG = Path(__file__).parent / "out" / "bench.toml"


def _token(client: Any, services: pipeline.Services, audience: str) -> str:
    with services.engine.begin() as conn:
        client_id, secret = store_clients.create_client(
            conn, "bench", ["experts:read", "profiles:read"], audience)
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(client_id, secret))
    return str(response.get_json()["access_token"])


def _time(client: Any, tokens: list[str], paths: list[str], requests: int
          ) -> dict[str, float]:
    times = []
    for i in range(requests):
        started = time.perf_counter()
        response = client.get(paths[i % len(paths)],
                              headers={"Authorization": f"Bearer {tokens[i % 2]}"})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (paths[i % len(paths)], response.status_code)
    cuts = statistics.quantiles(times, n=100)
    return {"p50_ms": round(cuts[49], 1), "p99_ms": round(cuts[98], 1),
            "max_ms": round(max(times), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="bench/out/insight.db")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--skip-precompute", action="store_true")
    args = parser.parse_args()
    config = Path(tempfile.mkdtemp()) / "whoknows.toml"
    text = BENCH_CONFIG.read_text()
    config.write_text(text.replace("bench/out/bench.db", str(Path(args.db).resolve())))
    services = pipeline.open_services(load_config(config, environ={}))
    report: dict[str, Any] = {}
    if not args.skip_precompute:
        # what a sync's refresh does in one call, in two steps: the topics (which a rebuild
        # hands over, having computed them for the profiles), then the rest
        started = time.perf_counter()
        with gc_paused(), services.engine.connect() as conn:  # as `refresh` runs
            topics = precompute.topics_by_contribution(conn, services.settings)
        report["topics_s"] = round(time.perf_counter() - started, 1)
        report["precompute_given_topics_s"] = round(insight.refresh(
            services.engine, services.settings, services.clock, topics), 1)
        report["precompute_s"] = round(report["topics_s"]
                                       + report["precompute_given_topics_s"], 1)
        del topics
    with services.engine.connect() as conn:
        report["rows"] = insight_store.count_rows(conn)
        topics = [t["topic"] for t in queries.topic_counts(conn, "public", services.clock(),
                                                           40)]
    app = create_app({"SERVICES": services})
    client = app.test_client()
    tokens = [_token(client, services, "internal"), _token(client, services, "external")]
    report["trending"] = _time(client, tokens, ["/v1/topics/trending?weeks=12"],
                               args.requests)
    report["graph_whole"] = _time(client, tokens, ["/v1/graph?limit=200"], args.requests)
    report["graph_topic"] = _time(
        client, tokens, [f"/v1/graph?limit=200&topic={t}" for t in topics], args.requests)
    report["group"] = _time(client, tokens, [f"/v1/topics/{t}/group?size=8" for t in topics],
                            args.requests)
    report["activity"] = _time(client, tokens, [f"/v1/topics/{t}/activity" for t in topics],
                               args.requests)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
