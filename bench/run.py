"""Benchmark the embedded default: import throughput, full rebuild, search latency.

    python bench/generate.py bench/out/data --people 100000 --contributions 1000000
    python bench/run.py bench/out/data [--db bench/out/bench.db] [--queries 300]

Prints one JSON object with the figures (BENCHMARKS.md records them). Not a test: the
figures are measured and written down, never asserted.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from service import pipeline
from service.config import load_config
from service.model import Audience
from service.search.base import ExpertQuery

SOURCES = (("intranet", "internal"), ("forum", "external"), ("portal", "partner"))


def _config(db: Path) -> Path:
    path = db.with_suffix(".toml")
    lines = [f'[database]\nurl = "sqlite:///{db}"\n']
    for source_id, audience in SOURCES:
        lines.append(f'[[sources]]\nid = "{source_id}"\nkind = "push"\naudience = "{audience}"\n')
    path.write_text("\n".join(lines))
    return path


def _import(services: pipeline.Services, data: Path) -> dict[str, float]:
    total, started = 0, time.perf_counter()
    for source_id, _ in SOURCES:
        file = data / f"{source_id}.jsonl"
        if not file.exists():
            continue
        report = pipeline.import_jsonl(services, file, source_id, recompute_people=False)
        total += report.stored.inserted + report.stored.updated + report.stored.unchanged
        print(f"  imported {file.name}: {report.lines} lines", file=sys.stderr)
    seconds = time.perf_counter() - started
    return {"contributions": total, "seconds": round(seconds, 1),
            "per_second": round(total / seconds)}


def _rebuild(services: pipeline.Services) -> dict[str, float]:
    started = time.perf_counter()
    rows, docs = pipeline.rebuild(services)
    return {"seconds": round(time.perf_counter() - started, 1), "profile_rows": rows,
            "documents": docs}


def _search(services: pipeline.Services, queries: list[str]) -> dict[str, float]:
    timings = []
    for index, text in enumerate(queries):
        audience = Audience.EXTERNAL if index % 3 == 2 else Audience.INTERNAL
        started = time.perf_counter()
        services.index.search(ExpertQuery(text=text, audience=audience, limit=10))
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "queries": len(timings),
        "p50_ms": round(statistics.median(timings), 1),
        "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 1),
        "max_ms": round(timings[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="folder written by bench/generate.py")
    parser.add_argument("--db", type=Path, default=Path("bench/out/bench.db"))
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--search-only", action="store_true",
                        help="time the searches on the store --db already holds")
    args = parser.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    if not args.search_only:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    services = pipeline.open_services(load_config(_config(args.db), environ={}))
    queries = [q for q in (args.data / "queries.txt").read_text().splitlines() if q.strip()]
    figures: dict[str, object] = {
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
                   f"{platform.python_version()}, {_cores()} cores",
        "date": datetime.now(UTC).date().isoformat(),
    }
    if not args.search_only:
        figures["import"] = _import(services, args.data)
        print("  rebuilding", file=sys.stderr)
        figures["rebuild"] = _rebuild(services)
    print("  searching", file=sys.stderr)
    figures["search"] = _search(services, queries[: args.queries])
    print(json.dumps(figures, indent=2))


def _cores() -> int:
    import os

    return os.cpu_count() or 1


if __name__ == "__main__":
    main()
