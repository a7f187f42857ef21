"""How long one `/metrics` scrape spends in the store (`StoreCollector`: per-source counts,
sync state, outbox lag, insight state) on the 1 M-contribution bench store, opened
read-only.

    python bench/metrics_scrape.py [--db bench/out/insight.db] [--runs 20]
        [--counts-seconds 60] [--interval 0]

The store must be at the current schema (`insight_state`): `bench/out/insight.db` is
`bench.db` copied and migrated by `make bench-insight`. `--counts-seconds` is
`[api] metrics_counts_seconds` (0: count live contributions at every scrape, as before
they were kept); `--interval` sleeps between scrapes, so that with a short
`--counts-seconds` some scrapes find the counts stale and start a background recount.

Prints one JSON line: the first (cold) scrape, the median and the slowest of the others,
how many background recounts finished, and whether the store answered every one. Figures go
in BENCHMARKS.md, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from sqlalchemy import create_engine

from service.config import ApiConfig
from service.ops.metrics import StoreCollector


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="bench/out/insight.db")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--counts-seconds", type=float,
                        default=ApiConfig().metrics_counts_seconds)
    parser.add_argument("--interval", type=float, default=0.0)
    args = parser.parse_args()
    engine = create_engine(f"sqlite:///file:{args.db}?mode=ro&uri=true")
    collector = StoreCollector(engine, args.counts_seconds)
    seconds: list[float] = []
    values: dict[str, float] = {}
    up, recounts, last_age = True, 0, 0.0  # a recount done shows as younger counts
    for run in range(args.runs):
        if run:
            time.sleep(args.interval)
        started = time.perf_counter()
        families = list(collector.collect())
        seconds.append(time.perf_counter() - started)
        values = {f.name: f.samples[0].value for f in families if f.samples}
        up = up and values["whoknows_store_up"] == 1
        age = values.get("whoknows_store_counts_age_seconds", 0.0)
        recounts += age < last_age
        last_age = age
    collector.counts.wait()
    rest = seconds[1:] or seconds
    print(json.dumps({
        "store_up": up, "documents": values.get("whoknows_index_documents"),
        "counts_seconds": args.counts_seconds, "runs": args.runs,
        "first_s": round(seconds[0], 4), "median_s": round(statistics.median(rest), 4),
        "max_s": round(max(rest), 4), "recounts_done": recounts,
        "insight_computed": values.get("whoknows_insight_computed_timestamp_seconds")}))


if __name__ == "__main__":
    main()
