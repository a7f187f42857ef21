"""How long one `/metrics` scrape spends in the store (`StoreCollector`: per-source counts,
sync state, outbox lag) on the 1 M-contribution bench store, opened read-only.

    python bench/metrics_scrape.py [--db bench/out/bench.db] [--runs 5]

Prints one JSON line: the first (cold) and median scrape seconds. Figures go in
BENCHMARKS.md, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from sqlalchemy import create_engine

from service.ops.metrics import StoreCollector


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="bench/out/bench.db")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    engine = create_engine(f"sqlite:///file:{args.db}?mode=ro&uri=true")
    collector = StoreCollector(engine)
    seconds, documents = [], 0.0
    for _ in range(args.runs):
        started = time.perf_counter()
        families = list(collector.collect())
        seconds.append(time.perf_counter() - started)
        documents = next(f.samples[0].value for f in families
                         if f.name == "whoknows_index_documents")
    print(json.dumps({"documents": documents, "first_s": round(seconds[0], 3),
                      "median_s": round(statistics.median(seconds), 3)}))


if __name__ == "__main__":
    main()
