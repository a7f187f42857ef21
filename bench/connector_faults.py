"""Each connector's sync under every fault at once, at issue 22's sizes: items stored after
one run against what a clean sync stores, requests, retries, seconds, and requests sent
inside a throttle or backoff window.

    python bench/connector_faults.py [--seeds 1 2 3] [--only discourse] [--timeout 1.0]
                                     [--backoff-base 0.1] [--page-size 10]

The servers are the connector tests' own (tests/connectors/*_server.py), scaled from their
fixtures: Stack Exchange 113 copies of the beer site (1,356 items), Discourse 53 copies of
the forum (1,855), WordPress 54 copies of the blog (648). Their fault plan
(tests/connectors/faults.py) is the issue's field test: 15 % 5xx, 2 % throttles of 1 s,
5 % truncated bodies (half not JSON, half dropped mid-way), 10 % repeated list pages,
2 % answers slower than the client's timeout; Stack Exchange adds `backoff: 1` to 3 % of
its answers. The client is the production one but for `--timeout` (slow answers come
`--timeout` + 0.5 s late) and `--backoff-base` (0.1 s by default instead of 1 s, so that a
run takes seconds, not minutes); the waits servers name are waited in full. `--page-size`
shrinks the list pages (more requests, so more faults met).

Each seed runs once per connector on a fresh store, then again on the same store (the
second run must change nothing). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service import pipeline  # noqa: E402
from service.config import SourceConfig, load_config  # noqa: E402
from service.connectors.discourse import DiscourseConnector  # noqa: E402
from service.connectors.http import HttpClient  # noqa: E402
from service.connectors.stackexchange import StackExchangeConnector  # noqa: E402
from service.connectors.wordpress import WordPressConnector  # noqa: E402
from service.store import sync as store_sync  # noqa: E402
from tests.connectors.discourse_server import DiscourseServer  # noqa: E402
from tests.connectors.faults import FaultPlan, Rates  # noqa: E402
from tests.connectors.stackexchange_server import StackExchangeServer  # noqa: E402
from tests.connectors.wordpress_server import WordPressServer  # noqa: E402

Connector = StackExchangeConnector | DiscourseConnector | WordPressConnector


@dataclass
class Case:
    name: str
    server: Any
    build: Callable[[HttpClient], Connector]
    rates: Rates


@contextmanager
def cases(names: set[str], page_size: int | None) -> Iterator[list[Case]]:
    se = StackExchangeServer.scaled(113)
    forum = DiscourseServer.scaled(53, per_page=30)
    blog = WordPressServer.scaled(54)
    for server in (se, forum, blog):
        server.start()
    try:

        def source(kind: str, url: str, **options: Any) -> SourceConfig:
            if page_size and kind != "stackexchange":
                options["per_page"] = page_size
            return SourceConfig(id=kind, kind=kind, audience="external", url=url, options=options)

        every = [
            Case(
                "stackexchange",
                se,
                lambda client: StackExchangeConnector(
                    source("stackexchange", se.url(), site="beer"),
                    client,
                    page_size=page_size or 100,
                ),
                Rates(backoff=0.03),
            ),
            Case(
                "discourse",
                forum,
                lambda client: DiscourseConnector(source("discourse", forum.base), client),
                Rates(),
            ),
            Case(
                "wordpress",
                blog,
                lambda client: WordPressConnector(source("wordpress", blog.url), client),
                Rates(),
            ),
        ]
        yield [case for case in every if not names or case.name in names]
    finally:
        for server in (se, forum, blog):
            server.stop()


def open_store(folder: Path, chosen: list[Case]) -> pipeline.Services:
    config = folder / "whoknows.toml"
    # The store only needs each source's id and audience; the cases build the connectors.
    tables = "\n\n".join(
        f'[[sources]]\nid = "{case.name}"\nkind = "push"\naudience = "external"' for case in chosen
    )
    config.write_text(f'[database]\nurl = "sqlite:///{folder / "w.db"}"\n\n{tables}\n')
    return pipeline.open_services(load_config(config, environ={}))


def sync(services: pipeline.Services, connector: Connector, source_id: str) -> pipeline.SyncReport:
    with services.engine.connect() as conn:
        cursor = store_sync.get_cursor(conn, source_id)
    return pipeline.ingest_pages(
        services, source_id, connector.pages(cursor), full_pass=cursor is None
    )


def stored(services: pipeline.Services, source_id: str) -> int:
    with services.engine.connect() as conn:
        return next(s.contributions for s in store_sync.list_sources(conn) if s.id == source_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--backoff-base", type=float, default=0.1)
    parser.add_argument(
        "--page-size",
        type=int,
        default=None,
        help="items per list page (default: each connector's, 100 or 30)",
    )
    args = parser.parse_args()

    def client() -> HttpClient:
        return HttpClient(timeout=args.timeout, backoff_base=args.backoff_base)

    rows: list[dict[str, Any]] = []
    with cases(set(args.only), args.page_size) as chosen, tempfile.TemporaryDirectory() as tmp:
        clean = open_store(_mkdir(tmp, "clean"), chosen)
        expected = {}
        for case in chosen:
            assert sync(clean, case.build(client()), case.name).failed is None
            expected[case.name] = stored(clean, case.name)
        for seed in args.seeds:
            folder = _mkdir(tmp, f"seed-{seed}")
            services = open_store(folder, chosen)
            for case in chosen:
                plan = FaultPlan(seed=seed, rates=case.rates, delay=args.timeout + 0.5)
                case.server.plan = plan
                connector = case.build(client())
                started = time.monotonic()
                report = sync(services, connector, case.name)
                seconds = time.monotonic() - started
                first, violations = stored(services, case.name), list(plan.violations)
                # (run at once after the first: a backoff that run was told of is not
                # carried over, so its windows are not counted)
                again = sync(services, case.build(client()), case.name)
                case.server.plan = None
                rows.append(
                    {
                        "connector": case.name,
                        "seed": seed,
                        "stored": first,
                        "expected": expected[case.name],
                        "failed": report.failed,
                        "requests": connector.client.requests_made,
                        "retries": connector.client.retries,
                        "seconds": round(seconds, 1),
                        "violations": len(violations),
                        "faults": dict(plan.counts()),
                        "second_run_changed": len(again.batch.changed_ids),
                    }
                )
            services.engine.dispose()
    print(
        f"{'connector':<14} {'seed':>4} {'stored':>13} {'requests':>8} {'retries':>7} "
        f"{'seconds':>7} {'in window':>9} {'2nd run':>7}"
    )
    for row in rows:
        print(
            f"{row['connector']:<14} {row['seed']:>4} {row['stored']:>6}/{row['expected']:<6} "
            f"{row['requests']:>8} {row['retries']:>7} {row['seconds']:>7} "
            f"{row['violations']:>9} {row['second_run_changed']:>7}"
            + (f"  FAILED {row['failed']}" if row["failed"] else "")
        )
    print(json.dumps(rows))


def _mkdir(tmp: str, name: str) -> Path:
    folder = Path(tmp, name).resolve()
    folder.mkdir()
    return folder


if __name__ == "__main__":
    main()
