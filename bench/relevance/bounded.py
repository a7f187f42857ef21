"""Does the bounded scoring of common words change the answers? overlap@10 against exact.

    python -m bench.relevance.bounded sites DUMP_FOLDER [DUMP_FOLDER ...]
    python -m bench.relevance.bounded store --db bench/out/bench.db \
        --queries bench/out/data/queries.txt

The embedded engine scores at most the newest `MAX_SCORED` (5,000) documents matching a
query, so that a common word stays fast on a million documents. This runs the same queries
through the product's search twice, bounded and with every match scored, and reports per
store the mean overlap of the top 10 people (|bounded ∩ exact| / |exact|), the share of
queries with the same person first, and how many queries matched more documents than the
bound (only those can differ). `sites`: the test-case titles of each StackExchange dump
(the relevance harness's stores); `store`: an existing store (e.g. the 1 M-contribution
benchmark store of bench/run.py) and a file of queries, one per line.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from statistics import fmean

from bench.relevance.run import open_store, split_site
from service.model import Audience
from service.reputation.topics import load_vocabulary, tokens
from service.search.base import ExpertQuery, QueryError
from service.search.result_cache import ResultCache
from service.search.sqlite import MAX_SCORED, SqliteExpertIndex
from service.store.db import open_engine

__all__ = ["compare"]

EXACT = 10**9


def compare(index: SqliteExpertIndex, queries: Sequence[str]) -> dict[str, float]:
    """Overlap@10 and same-first of the bounded index against exact scoring."""
    exact = SqliteExpertIndex(index.engine, index.vocabulary, index.default_half_life_days,
                              index.clock, ResultCache(0), index.weights, max_scored=EXACT)
    bounded = SqliteExpertIndex(index.engine, index.vocabulary, index.default_half_life_days,
                                index.clock, ResultCache(0), index.weights)
    overlaps, same_first, over_bound = [], 0, 0
    for text in queries:
        try:
            want = [h.person_id for h in exact.search(_query(text)).hits]
            got = [h.person_id for h in bounded.search(_query(text)).hits]
        except QueryError:
            continue
        if not want:
            continue
        overlaps.append(len(set(want) & set(got)) / len(want))
        same_first += bool(got) and got[0] == want[0]
        over_bound += _matches(bounded, text) > MAX_SCORED
    return {"queries": len(overlaps), "overlap@10": round(fmean(overlaps), 4) if overlaps else 1.0,
            "same_first": round(same_first / max(1, len(overlaps)), 4),
            "queries_over_bound": over_bound}


def _query(text: str) -> ExpertQuery:
    return ExpertQuery(text=text, audience=Audience.INTERNAL, limit=10)


def _matches(index: SqliteExpertIndex, text: str) -> int:
    """How many documents match the query's any-word expression (an upper bound of what
    the bounded search had to leave out)."""
    with index.engine.connect() as conn:
        # the words the search itself keeps (stop words and the most common dropped)
        words = index._useful_words(conn, list(dict.fromkeys(tokens(text))))
        expression = " OR ".join(f'"{w}"' for w in words)
        return int(conn.exec_driver_sql(
            "SELECT count(*) FROM contribution_fts WHERE contribution_fts MATCH ?",
            (f"{{title body tags}} : ({expression})",)).scalar() or 0)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    sites = modes.add_parser("sites", help="the relevance harness's StackExchange stores")
    sites.add_argument("folders", type=Path, nargs="+")
    store = modes.add_parser("store", help="an existing SQLite store and a query file")
    store.add_argument("--db", type=Path, required=True)
    store.add_argument("--queries", type=Path, required=True)
    args = parser.parse_args(argv)
    print("| store | queries | over the bound | overlap@10 | same first |")
    print("| --- | ---: | ---: | ---: | ---: |")
    if args.mode == "sites":
        for folder in args.folders:
            split = split_site(folder)
            with tempfile.TemporaryDirectory(prefix="whoknows-bounded-") as workdir:
                services = open_store(Path(workdir), split)
                try:
                    assert isinstance(services.index, SqliteExpertIndex)
                    _row(split.site, compare(services.index, [c.title for c in split.cases]))
                finally:
                    services.engine.dispose()
    else:
        engine = open_engine(f"sqlite:///{args.db}")
        index = SqliteExpertIndex(engine, load_vocabulary(None), cache=ResultCache(0))
        queries = [q for q in args.queries.read_text().splitlines() if q.strip()]
        print(f"  {len(queries)} queries on {args.db}", file=sys.stderr)
        _row(args.db.name, compare(index, queries))


def _row(name: str, figures: dict[str, float]) -> None:
    print(f"| {name} | {figures['queries']} | {figures['queries_over_bound']} "
          f"| {figures['overlap@10']:.3f} | {figures['same_first']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
