"""What the rate limit costs a request: one `RateLimiter.take` (a hit and the window's
stats, `service.api.limits`) on each storage, from one thread.

    python bench/rate_limits.py [--requests 5000] [--redis redis://127.0.0.1:6379/0]

Storages: `memory://` (the embedded default), the Redis at `--redis` (under a key prefix
of its own, deleted afterwards), and a Redis that does not answer (a free port: the first
request fails over to memory, the others are counted in memory while Redis rests). Prints
one JSON line per storage: median, p99 and slowest microseconds per request, and for the
unreachable Redis the first request's. Figures go in BENCHMARKS.md, never asserted.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import time
import uuid

from service.api.limits import RateLimiter, SharedStorage


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(name: str, storage: SharedStorage, requests: int) -> dict[str, object]:
    limiter = RateLimiter(requests * 2, "bench", storage)  # never refused: every hit counts
    seconds = []
    for number in range(requests):
        started = time.perf_counter()
        spent = limiter.take(f"client-{number % 50}")
        seconds.append(time.perf_counter() - started)
        assert spent is not None and spent.allowed
    ordered = sorted(seconds[1:])
    return {"storage": name, "requests": requests,
            "first_us": round(seconds[0] * 1e6),
            "median_us": round(statistics.median(ordered) * 1e6, 1),
            "p99_us": round(ordered[int(len(ordered) * 0.99)] * 1e6, 1),
            "slowest_us": round(ordered[-1] * 1e6)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    prefix = f"wk-bench-{uuid.uuid4().hex[:8]}"
    print(json.dumps(_run("memory://", SharedStorage("memory://", prefix), args.requests)))
    print(json.dumps(_run(args.redis, SharedStorage(args.redis, prefix), args.requests)))
    down = f"redis://127.0.0.1:{_free_port()}/0"
    print(json.dumps(_run(f"{down} (nothing listening)", SharedStorage(down, prefix),
                          args.requests)))
    import redis

    client = redis.Redis.from_url(args.redis)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


if __name__ == "__main__":
    main()
