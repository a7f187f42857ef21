"""How cost grows with the size of the store: import rate, rebuild time, store size,
search p50/p99 and `/v1/experts` requests/s (cache off and on) at several sizes.

    python bench/growth.py [--sizes 100000 300000 1000000] [--out bench/out/growth]
                           [--duration 20s] [--skip-api]

For each size it generates a dataset (`bench/generate.py`, one person per ten
contributions, seed 1, activity ending on --end), builds the store with `bench/run.py`
(import, full rebuild, 300 searches with the result cache off, as that script does), adds
up the store's files, then runs `bench/api_load.py` on the shipped gunicorn settings
(2 workers × 4 threads) twice: with `[search] result_cache_size = 0` and with the default
cache. Each step runs in its own process, so each size starts cold, and the rows come
out in one run on one machine. Prints one JSON line per size and a Markdown table at the
end (BENCHMARKS.md records it). Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def _run_json(args: list[str]) -> dict[str, Any]:
    """Run a bench script; its last stdout line (or whole stdout) is its JSON result."""
    done = subprocess.run([PYTHON, *args], cwd=ROOT, check=True, stdout=subprocess.PIPE,
                          text=True)
    text = done.stdout.strip()
    try:
        return dict(json.loads(text))
    except json.JSONDecodeError:
        return dict(json.loads(text.splitlines()[-1]))


def _generate(data: Path, size: int, end: str) -> float:
    if (data / "queries.txt").exists():
        return 0.0
    started = time.perf_counter()
    subprocess.run([PYTHON, "bench/generate.py", str(data), "--people", str(max(size // 10, 100)),
                    "--contributions", str(size), "--seed", "1", "--end", end],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _store_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


def _api(config: Path, queries: Path, duration: str, cache: bool) -> dict[str, Any]:
    if not cache:
        variant = config.with_name(config.stem + "-nocache.toml")
        variant.write_text(config.read_text() + "\n[search]\nresult_cache_size = 0\n")
        config = variant
    found = _run_json(["bench/api_load.py", "--config", str(config), "--queries", str(queries),
                       "--duration", duration, "--warmup", "5s",
                       "--log", str(config.parent / "gunicorn.log")])
    return {"requests_per_s": found.get("requests_per_s"), "p99_ms": found.get("p99_ms"),
            "worker_cpu_ms_per_request": found.get("worker_cpu_ms_per_request"),
            "non_2xx": found.get("non_2xx"), "load_before": found["machine"]["load_before"]}


def measure(size: int, out: Path, end: str, duration: str, api: bool) -> dict[str, Any]:
    data, db = out / f"data-{size}", out / f"store-{size}" / "bench.db"
    generated_s = _generate(data, size, end)
    db.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    built = _run_json(["bench/run.py", str(data), "--db", str(db)])
    row: dict[str, Any] = {
        "contributions": size, "generate_s": round(generated_s, 1),
        "import_per_s": built["import"]["per_second"], "import_s": built["import"]["seconds"],
        "rebuild_s": built["rebuild"]["seconds"], "store_mb": round(_store_bytes(db) / 2**20),
        "search_p50_ms": built["search"]["p50_ms"], "search_p99_ms": built["search"]["p99_ms"],
        "load_before": round(load, 2),
    }
    if api:
        row["api_nocache"] = _api(db.with_suffix(".toml"), data / "queries.txt", duration,
                                  cache=False)
        row["api_cache"] = _api(db.with_suffix(".toml"), data / "queries.txt", duration,
                                cache=True)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| contributions | import /s | rebuild s | store MB | search p50 / p99 ms "
            "| API req/s, p99 ms, no cache | API req/s, cache |\n"
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    lines = [head]
    for r in rows:
        nocache, cache = r.get("api_nocache") or {}, r.get("api_cache") or {}
        lines.append(
            f"| {r['contributions']:,} | {r['import_per_s']:,} | {r['rebuild_s']} "
            f"| {r['store_mb']:,} | {r['search_p50_ms']} / {r['search_p99_ms']} "
            f"| {nocache.get('requests_per_s', '–')}, {nocache.get('p99_ms', '–')} "
            f"| {cache.get('requests_per_s', '–')} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "growth")
    parser.add_argument("--end", default="2026-12-01", help="last day of generated activity")
    parser.add_argument("--duration", default="20s", help="each measured wrk run")
    parser.add_argument("--skip-api", action="store_true", help="no gunicorn/wrk runs")
    args = parser.parse_args()
    args.out = args.out.resolve()
    rows = []
    print(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                      f"{platform.python_version()}",
                      "date": datetime.now(UTC).date().isoformat()}), flush=True)
    for size in sorted(args.sizes):
        started = time.perf_counter()
        row = measure(size, args.out, args.end, args.duration, not args.skip_api)
        row["wall_s"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
