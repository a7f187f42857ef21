"""`whoknows demo`: load the generated demo company through the real pipeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time

from sqlalchemy.engine import Connection

from service import insight, pipeline
from service.config import OrganisationsConfig
from service.connectors.base import Page
from service.demo.company import COMPANY_DOMAIN, COMPANY_NAME, ORGANISATIONS
from service.demo.generator import DemoData, generate_demo
from service.identity import DirectoryEntry
from service.insight import store as insight_store
from service.model import Audience
from service.organisations import store as org_store
from service.present import print_search
from service.search.base import ExpertQuery
from service.store import people as store_people
from service.store import sync as store_sync

__all__ = ["DEMO_QUERIES", "load_demo", "store_demo"]

DEMO_QUERIES = (
    ("medical insurance claims", Audience.INTERNAL),
    ("kubernetes deployment", Audience.INTERNAL),
    ("gdpr data privacy", Audience.EXTERNAL),
)


def directory_entries(data: DemoData) -> list[DirectoryEntry]:
    """The demo's people directory as entries (the CSV written by `write_demo`)."""
    source_ids = [source["id"] for source in data.sources]
    return [
        DirectoryEntry(
            email=row["email"], name=row.get("name") or None,
            department=row.get("department") or None,
            accounts={s: row[s] for s in source_ids if row.get(s)},
        )
        for row in data.directory
    ]


def register_organisations(conn: Connection, config: OrganisationsConfig) -> None:
    """Name the company and register its customers and partners, as its CRM would."""
    org_store.put(conn, config.company_id, COMPANY_NAME, [COMPANY_DOMAIN], None, config)
    for org_id, name, domain, account in ORGANISATIONS:
        org_store.put(conn, org_id, name, [domain], account, config)


def store_demo(services: pipeline.Services, data: DemoData,
               echo: Callable[[str], None] = print) -> int:
    """Store generated demo data through the pipeline (sources, directory, contributions),
    resolve and recompute once after all sources; return the people recomputed."""
    with services.engine.begin() as conn:
        for source in data.sources:
            store_sync.register_source(conn, dict(source))
        store_people.import_directory(conn, directory_entries(data))
        register_organisations(conn, services.config.organisations)
    touched: set[int] = set()
    for source in data.sources:  # people are recomputed once, after all three sources
        records = data.records[source["id"]]
        pages = (Page(records[i:i + pipeline.BATCH_SIZE], cursor=None)
                 for i in range(0, len(records), pipeline.BATCH_SIZE))
        report = pipeline.ingest_pages(services, source["id"], pages, full_pass=False,
                                       recompute_people=False, bulk=True)
        touched |= report.batch.touched_identities
        echo(f"{source['id']} ({source['audience']}): {report.batch.inserted} new, "
             f"{report.batch.updated} updated, {report.batch.unchanged} unchanged")
    return pipeline.resolve_and_recompute(services, touched)


def load_demo(
    services: pipeline.Services, end: date, echo: Callable[[str], None] = print,
    queries: bool = True,
) -> DemoData:
    """Generate the demo for the two years ending at `end`, store it through the pipeline
    (sources, contributions, directory), and print a few who-knows-what answers."""
    data = generate_demo(datetime.combine(end, time(), tzinfo=UTC))
    loading = datetime.now(UTC)
    people = store_demo(services, data, echo)
    with services.engine.connect() as conn:
        state = insight_store.last_state(conn)
    if state is None or state[0] < loading:  # the pipeline found it not due: complete it
        insight.refresh(services.engine, services.settings, services.clock)
    total = sum(len(records) for records in data.records.values())
    echo(f"demo loaded: {total} contributions, {len(data.people)} people "
         f"({people} profiles computed)")
    if queries:
        for text, audience in DEMO_QUERIES:
            result = services.index.search(ExpertQuery(text=text, audience=audience, limit=3))
            echo("")
            print_search(result, text, str(audience), as_json=False, echo=echo)
    return data
