"""How close the import comes to SQLite's own ceiling, measured in the same run.

    python bench/generate.py bench/out/data --people 100000 --contributions 1000000
    python bench/import_ceiling.py bench/out/data [--out bench/out/ceiling]

Three phases, each in a process of its own (so each has its own peak RSS), one after the
other on the same machine:

- `fts`: the raw FTS5 ceiling. The records' title, body, tags and audience facet (the
  columns whoknows indexes), decoded beforehand, go into an FTS5 table with the same
  definition and tokenizer as the search index, one `executemany` in one transaction.
- `plain`: the same rows into an ordinary table (the ceiling without full-text work).
- `whoknows`: `pipeline.import_jsonl` of the same files into a fresh store, as
  `bench/run.py` does (store, index, cursors; people left to the rebuild that follows).

Prints one JSON line per phase and a summary line with whoknows' rate as a share of the
FTS5 ceiling. Not a test: figures are written down in BENCHMARKS.md, never asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import msgspec

SOURCES = ("intranet", "forum", "portal")
AUDIENCE = {"intranet": "internal", "forum": "external", "portal": "partner"}
FTS = ("CREATE VIRTUAL TABLE t USING fts5(title, body, tags, facets, "
       "tokenize = 'porter unicode61')")
PLAIN = "CREATE TABLE t (title TEXT, body TEXT, tags TEXT, facets TEXT)"


class _Indexed(msgspec.Struct):
    title: str | None = None
    text: str | None = None
    tags: list[str] = []


def _rows(data: Path, limit: int | None) -> list[tuple[str, str, str, str]]:
    decoder = msgspec.json.Decoder(_Indexed)
    rows: list[tuple[str, str, str, str]] = []
    for source in SOURCES:
        path = data / f"{source}.jsonl"
        if not path.exists():
            continue
        with path.open("rb") as handle:
            for line in handle:
                record = decoder.decode(line)
                rows.append((record.title or "", record.text or "", json.dumps(record.tags),
                             "aud" + AUDIENCE[source]))
                if limit is not None and len(rows) >= limit:
                    return rows
    return rows


def _raw(data: Path, db: Path, schema: str, limit: int | None) -> dict[str, object]:
    rows = _rows(data, limit)
    db.unlink(missing_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(schema)
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return {"rows": len(rows), "seconds": round(seconds, 2),
            "per_second": round(len(rows) / seconds)}


def _whoknows(data: Path, db: Path, limit: int | None) -> dict[str, object]:
    from service import pipeline
    from service.config import load_config

    sys.path.insert(0, str(Path(__file__).parent))
    from run import _config  # noqa: PLC0415 — bench/run.py's store: same sources

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    services = pipeline.open_services(load_config(_config(db), environ={}))
    if limit is not None:  # the first `limit` records, in the order _rows reads them
        data = _first(data, db.parent / "subset", limit)
    total, started = 0, time.perf_counter()
    for source in SOURCES:
        path = data / f"{source}.jsonl"
        if path.exists():
            report = pipeline.import_jsonl(services, path, source, recompute_people=False)
            total += report.stored.inserted + report.stored.updated + report.stored.unchanged
    seconds = time.perf_counter() - started
    return {"rows": total, "seconds": round(seconds, 2), "per_second": round(total / seconds)}


def _first(data: Path, out: Path, limit: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    left = limit
    for source in SOURCES:
        path, target = data / f"{source}.jsonl", out / f"{source}.jsonl"
        target.unlink(missing_ok=True)
        if not path.exists() or left <= 0:
            continue
        with path.open("rb") as handle, target.open("wb") as write:
            for line in handle:
                write.write(line)
                left -= 1
                if left <= 0:
                    break
    return out


def _phase(args: argparse.Namespace) -> None:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.phase == "fts":
        figures = _raw(args.data, out / "fts.db", FTS, args.limit)
    elif args.phase == "plain":
        figures = _raw(args.data, out / "plain.db", PLAIN, args.limit)
    else:
        figures = _whoknows(args.data, out / "whoknows.db", args.limit)
    # Linux reports kibibytes
    figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps({"phase": args.phase, **figures}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="folder written by bench/generate.py")
    parser.add_argument("--out", type=Path, default=Path("bench/out/ceiling"))
    parser.add_argument("--limit", type=int, help="only the first N records")
    parser.add_argument("--phase", choices=("fts", "plain", "whoknows"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _phase(args)
        return
    results = {}
    for phase in ("fts", "plain", "whoknows"):
        command = [sys.executable, __file__, str(args.data), "--out", str(args.out),
                   "--phase", phase]
        if args.limit is not None:
            command += ["--limit", str(args.limit)]
        line = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[phase] = json.loads(line.strip().splitlines()[-1])
        print(json.dumps(results[phase]), flush=True)
    ceiling, ours = results["fts"]["per_second"], results["whoknows"]["per_second"]
    print(json.dumps({"summary": True, "fts_ceiling_per_second": ceiling,
                      "plain_per_second": results["plain"]["per_second"],
                      "whoknows_per_second": ours,
                      "share_of_fts_ceiling": round(ours / ceiling, 3),
                      "whoknows_peak_rss_mib": results["whoknows"]["peak_rss_mib"]}))


if __name__ == "__main__":
    main()
