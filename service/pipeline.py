"""The one orchestration: store each batch, commit its cursor, resolve identities,
recompute reputation for the people touched, update the index.

The CLI (and later the API and the CronJob) call these functions; none repeats them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.engine import Connection, Engine

from service import insight
from service.batch import gc_paused
from service.config import Config, ConfigError, SourceConfig
from service.connectors.base import ConnectorError, Page
from service.identity.audit import Cause
from service.model import ContributionRecord
from service.organisations import store as organisations_store
from service.reputation.activity import activity_rows
from service.reputation.engine import SCOPES, ReputationSettings, facts_from_row, profile_rows
from service.reputation.levels import assign_levels
from service.reputation.own_topics import without_hidden
from service.reputation.scoring import ContributionFacts, Weights
from service.reputation.topics import TopicVocabulary, load_vocabulary
from service.search.cluster import ClusterExpertIndex
from service.search.result_cache import ResultCache
from service.search.sqlite import SqliteExpertIndex
from service.store import claims as store_claims
from service.store import contributions as store_contributions
from service.store import erasure as store_erasure
from service.store import people as store_people
from service.store import person_topics as store_person_topics
from service.store import profiles as store_profiles
from service.store import suggestions as store_suggestions
from service.store import sync as store_sync
from service.store.db import chunks, open_engine
from service.store.schema import (
    contributions,
    identity_links,
    profile_topics,
    recompute_queue,
    sources,
)

__all__ = [
    "ImportReport",
    "Services",
    "SyncReport",
    "drain_index",
    "import_jsonl",
    "erase_person",
    "facts_by_person",
    "finish_bulk_loads",
    "ingest_pages",
    "open_services",
    "rebuild",
    "recompute",
    "read_claimed_profiles",
    "reindex",
    "resolve_for",
    "resolve_and_recompute",
    "sync_source",
]

BATCH_SIZE = 5000
Progress = Callable[[int, int | None], None]


@dataclass
class Services:
    """Everything the pipeline runs on, wired once from the configuration."""

    config: Config
    engine: Engine
    index: SqliteExpertIndex | ClusterExpertIndex
    vocabulary: TopicVocabulary
    settings: ReputationSettings
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: set by the API app: a request never waits for a long insight computation (a
    #: scheduled `whoknows topics --refresh`, a sync or a rebuild does it)
    serving: bool = False


def open_services(config: Config, clock: Callable[[], datetime] | None = None) -> Services:
    """Open the store (migrating it), register configured sources, open the index."""
    engine = open_engine(config.database.url)
    rep = config.reputation
    vocabulary = load_vocabulary(config.resolve_path(rep.synonyms) if rep.synonyms else None)
    weights = Weights.from_config(rep.kind_weights, rep.audience_weights, rep.thread_cap,
                                  rep.day_cap, rep.evidence_per_topic)
    with engine.begin() as conn:
        for source in config.sources:
            store_sync.register_source(conn, _source_row(source))
    settings = ReputationSettings(
        vocabulary=vocabulary, weights=weights,
        default_half_life_days=rep.default_half_life_days,
        topic_options={s.id: (s.topics.from_tags, s.topics.from_text) for s in config.sources},
    )
    # one clock for the profiles and the search (a document's age, who is active now)
    clock = clock or (lambda: datetime.now(UTC))
    index: SqliteExpertIndex | ClusterExpertIndex
    cache = ResultCache(config.search.result_cache_size, config.search.result_cache_seconds)
    if config.search.engine == "elasticsearch":
        index = ClusterExpertIndex(engine, vocabulary, config.search, config.search_auth,
                                   clock=clock, cache=cache)
    else:
        index = SqliteExpertIndex(engine, vocabulary, clock=clock, cache=cache)
    return Services(config, engine, index, vocabulary, settings, clock)


def _source_row(source: SourceConfig) -> dict[str, object]:
    return {"id": source.id, "kind": source.kind, "audience": source.audience,
            "name": source.name or source.id, "url": source.url,
            "half_life_days": source.half_life_days}


def source_info(conn: Connection, config: Config, source_id: str) -> store_contributions.SourceInfo:
    """Return the stored source's facts, or raise ConfigError naming it when unknown."""
    row = conn.execute(select(sources).where(sources.c.id == source_id)).first()
    if row is None:
        known = ", ".join(r.id for r in conn.execute(select(sources.c.id))) or "none"
        raise ConfigError(
            f"source {source_id!r} is not configured (known sources: {known}); records you "
            f"import or push need a push source in the configuration (whoknows.toml):\n\n"
            f'[[sources]]\nid = "{source_id}"\nkind = "push"\n'
            f'audience = "internal"    # internal | external | partner: who may see them')
    configured = config.source(source_id)
    verified = configured.verified_emails if configured else True
    return store_contributions.SourceInfo(row.id, row.audience, verified)


@dataclass
class SyncReport:
    source_id: str
    pages: int = 0
    batch: store_contributions.BatchResult = field(
        default_factory=store_contributions.BatchResult)
    flagged_deleted: int = 0
    errors: list[str] = field(default_factory=list)
    people_recomputed: int = 0
    failed: str | None = None


def ingest_pages(
    services: Services, source_id: str, pages: Iterable[Page], *, full_pass: bool,
    progress: Progress | None = None, recompute_people: bool = True,
    on_page: Callable[[store_contributions.BatchResult], None] | None = None,
    report: SyncReport | None = None, started: datetime | None = None, bulk: bool = False,
) -> SyncReport:
    """Store pages one transaction each (batch, index, cursor together), then resolve
    identities and recompute the people touched (unless `recompute_people` is False, for
    bulk loads followed by `rebuild`). A ConnectorError mid-way keeps what was stored, is
    recorded, and ends the run.

    `report`: the report to fill (one a caller reads while it fills: a job's progress).
    `started`: when the full pass began, when an earlier run began it (a job retried);
    what it has not seen since is flagged deleted at its end.
    `bulk`: load a source that holds nothing yet (a first import) the fast way, on a
    SQLite store: batches are stored without change detection and their reply and accept
    links made in one pass at the end (reputation counts them from then on)."""
    report = report if report is not None else SyncReport(source_id)
    # wall time, not the reputation clock: a later pass must see itself as later
    started = started or datetime.now(UTC)
    finish_bulk_loads(services)  # one a killed run left unfinished
    with services.engine.begin() as conn:
        info = source_info(conn, services.config, source_id)
        bulk = (bulk and services.engine.dialect.name == "sqlite"
                and store_contributions.source_is_empty(conn, source_id))
    done = 0
    accounts: store_contributions.AccountCache | None = {} if bulk else None
    try:
        for page in pages:
            with services.engine.begin() as conn:
                if bulk:
                    conn.exec_driver_sql("PRAGMA wal_autocheckpoint=20000")
                result = _store_page(services, conn, info, page.records, started, accounts)
                for message in page.errors:
                    store_sync.record_error(conn, source_id, message, page.cursor)
                if page.complete and full_pass:
                    flagged = store_contributions.flag_unseen_deleted(conn, source_id, started)
                    services.index.update([], flagged, conn)
                    report.flagged_deleted += len(flagged)
                store_sync.commit_cursor(conn, source_id, page.cursor, len(page.records))
            drain_index(services)
            report.pages += 1
            report.batch.merge(result)
            if on_page:
                on_page(result)
            report.errors.extend(page.errors)
            done += len(page.records)
            if progress:
                progress(done, page.total)
    except ConnectorError as exc:
        report.failed = f"{type(exc).__name__}: {exc}"
        with services.engine.begin() as conn:
            store_sync.record_error(conn, source_id, report.failed,
                                    store_sync.get_cursor(conn, source_id))
    with services.engine.begin() as conn:
        store_sync.finish_run(conn, source_id, report.failed)
    finish_bulk_loads(services)
    drain_index(services)  # also what earlier runs left waiting
    if recompute_people:
        report.people_recomputed = resolve_and_recompute(
            services, report.batch.touched_identities,
            resolve=report.batch.identities_changed)
    return report


def _store_page(services: Services, conn: Connection, info: store_contributions.SourceInfo,
                records: list[ContributionRecord], started: datetime,
                bulk: store_contributions.AccountCache | None
                ) -> store_contributions.BatchResult:
    """Store one page in `conn`'s transaction and index it. `bulk`: the accounts a bulk
    load stored so far (it links at its end: `finish_bulk_loads`), None otherwise."""
    if bulk is None:
        result = store_contributions.store_batch(conn, info, records, started)
        services.index.update(result.changed_ids, result.deleted_ids, conn)
        return result
    store_contributions.begin_bulk(conn, info.id, started)
    fast = store_contributions.store_new_batch(conn, info, records, started, bulk)
    if fast is None:  # an id seen twice in the load: its batch stores the careful way
        result = store_contributions.store_batch(conn, info, records, started)
        services.index.update(result.changed_ids, result.deleted_ids, conn)
        return result
    if isinstance(services.index, SqliteExpertIndex):
        services.index.add(conn, fast.changed_ids)
    else:
        services.index.update(fast.changed_ids, [], conn)
    return fast


def finish_bulk_loads(services: Services) -> int:
    """Finish the bulk loads pending (the one just run, or one a killed run left): link
    each source's replies and accepts in one pass, one transaction each. Returns how many
    were finished."""
    with services.engine.connect() as conn:
        pending = store_contributions.bulk_pending(conn)
    for source_id in pending:
        with services.engine.begin() as conn:
            store_contributions.link_source(conn, source_id)
            store_contributions.end_bulk(conn, source_id)
    return len(pending)


def sync_source(
    services: Services, source_id: str, connector_factory: Callable[[SourceConfig], object],
    *, full: bool = False, progress: Progress | None = None,
    report: SyncReport | None = None, full_pass_since: datetime | None = None,
) -> SyncReport:
    """Run one configured source's connector from its stored cursor (from scratch when
    `full`). `full_pass_since`: continue the full pass an earlier run began then (from
    the cursor it committed), flagging at its end what the whole pass did not see;
    `report`: as `ingest_pages` takes it."""
    source = services.config.source(source_id)
    if source is None:
        raise ConfigError(f"source {source_id!r} is not in the configuration")
    with services.engine.begin() as conn:
        if full:
            store_sync.reset_cursor(conn, source_id)
        cursor = store_sync.get_cursor(conn, source_id)
    connector = connector_factory(source)
    pages = connector.pages(cursor)  # type: ignore[attr-defined]
    report = ingest_pages(services, source_id, pages,
                          full_pass=cursor is None or full_pass_since is not None,
                          progress=progress, report=report, started=full_pass_since)
    read_claimed_profiles(services, source_id, connector)
    return report


def read_claimed_profiles(services: Services, source_id: str, connector: object) -> int:
    """Read the profile text of the accounts that self-claims wait on, from a connector
    that can (`profiles(usernames)`), store it, and resolve (which verifies a claim whose
    code is there now). Returns how many profiles were read."""
    profiles = getattr(connector, "profiles", None)
    if profiles is None:
        return 0
    with services.engine.connect() as conn:
        wanted = store_claims.waiting_accounts(conn, source_id, services.clock())
        info = source_info(conn, services.config, source_id) if wanted else None
    if not wanted or info is None:
        return 0
    authors = profiles(wanted)
    with services.engine.begin() as conn:
        store_contributions.upsert_identities(conn, info, authors)
    resolve_and_recompute(services, set())
    return len(authors)


@dataclass
class ImportReport:
    lines: int = 0
    stored: store_contributions.BatchResult = field(
        default_factory=store_contributions.BatchResult)
    #: (line number, message) for each malformed line
    malformed: list[tuple[int, str]] = field(default_factory=list)
    people_recomputed: int = 0


def read_jsonl(path: Path, report: ImportReport, batch_size: int = BATCH_SIZE
               ) -> Iterable[Page]:
    """Yield pages of records decoded from a JSON Lines file; a malformed line is noted
    with its number and skipped."""
    decoder = msgspec.json.Decoder(ContributionRecord)
    batch: list[ContributionRecord] = []
    errors: list[str] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            report.lines += 1
            try:
                batch.append(decoder.decode(line))
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                problem = str(exc)
                if not isinstance(exc, msgspec.ValidationError):
                    problem = _not_json(line, problem)
                report.malformed.append((number, problem))
                errors.append(f"line {number}: {problem}")
            if len(batch) >= batch_size:
                yield Page(batch, cursor=None, errors=errors)
                batch, errors = [], []
    if batch or errors:
        yield Page(batch, cursor=None, errors=errors)


def _not_json(line: bytes, fallback: str) -> str:
    """What is wrong with a line that is not JSON, with the column where it goes wrong
    (msgspec says only "Input data was truncated" of a line that ends too early)."""
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        ends = " (the line ends before the record does)" if exc.pos >= len(text.rstrip()) else ""
        where = "" if exc.msg.endswith(" at") else " at"  # "Unterminated string starting at"
        return f"not valid JSON: {exc.msg.lower()}{where} column {exc.colno}{ends}"
    return f"not valid JSON: {fallback}"


def import_jsonl(
    services: Services, path: Path, source_id: str, progress: Progress | None = None,
    recompute_people: bool = True,
) -> ImportReport:
    """Import canonical records from a JSON Lines file into a source. Idempotent."""
    report = ImportReport()
    sync = ingest_pages(services, source_id, read_jsonl(path, report), full_pass=False,
                        progress=progress, recompute_people=recompute_people, bulk=True)
    report.stored = sync.batch
    report.people_recomputed = sync.people_recomputed
    return report


def resolve_and_recompute(services: Services, touched_identities: set[int],
                          resolve: bool = True) -> int:
    """Resolve identities, then recompute the people whose accounts or contributions
    changed, and those an interrupted run left queued. Returns how many people were
    recomputed.

    Resolution reads every identity, so a run that added or changed no account passes
    `resolve=False`; it still resolves when an account has no person yet (one stored by
    a run that was interrupted before resolving).
    """
    return _resolve_and_recompute(services, touched_identities, resolve, None)[0]


def resolve_for(services: Services, cause: Cause) -> list[int]:
    """Resolve after someone changed the links (a manual link or unlink, an accepted or
    rejected suggestion, an undo, a claim), crediting `cause` with what changed; recompute
    whom it touched. Returns the identity audit entries written."""
    return _resolve_and_recompute(services, set(), True, cause)[1]


def _resolve_and_recompute(services: Services, touched_identities: set[int], resolve: bool,
                           cause: Cause | None) -> tuple[int, list[int]]:
    audit_ids: list[int] = []
    with services.engine.begin() as conn:
        queued = set(conn.execute(select(recompute_queue.c.identity_id)).scalars())
        people: set[int] = set()
        if resolve:  # an account's profile text may hold a claim's code now
            claimed, audit_ids = store_claims.apply_due(conn, services.clock())
            people |= claimed
        if resolve or store_people.unresolved_exists(conn):
            resolution = store_people.resolve_people(conn, cause)
            people |= resolution.touched_people
            audit_ids += resolution.audit_ids
            organisations_store.refresh(conn, services.config.organisations)
            # the review queue follows the people as they are now
            store_suggestions.refresh(conn)
        ids = sorted(touched_identities | queued)
        for chunk in chunks(ids, 500):
            rows = conn.execute(select(identity_links.c.person_id).where(
                identity_links.c.identity_id.in_(chunk)))
            people |= {row.person_id for row in rows}
    if people:
        recompute(services, sorted(people))
    with services.engine.begin() as conn:
        for chunk in chunks(ids, 500):
            conn.execute(delete(recompute_queue).where(
                recompute_queue.c.identity_id.in_(chunk)))
    if people:  # community insight is read from precomputed tables: refresh them
        insight.refresh_if_due(services.engine, services.settings, services.clock,
                               cheap_only=services.serving)
    return len(people), audit_ids


def recompute(services: Services, person_ids: list[int]) -> int:
    """Recompute the profiles of these people and the levels of the topics they touch,
    in one transaction. Returns how many profile rows were written."""
    with services.engine.begin() as conn:
        rows, activity = _profile_rows(conn, services, person_ids)
        keys = {(str(row["scope"]), str(row["topic"])) for row in rows}
        keys |= _topics_of(conn, person_ids)
        store_profiles.replace_profiles(conn, person_ids, rows, activity)
        store_profiles.refresh_levels(conn, keys, assign_levels)
    return len(rows)


def _profile_rows(
    conn: Connection, services: Services, person_ids: list[int] | None,
    everyone: dict[int, list[ContributionFacts]] | None = None,
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The profile_topics rows and the profile_people rows of these people (all: None)."""
    now = services.clock()
    if person_ids is None:
        facts = everyone if everyone is not None else facts_by_person(conn, services, None)
        targets = sorted(facts)
    else:
        facts = defaultdict(list)
        for chunk in chunks(person_ids, 500):
            facts.update(facts_by_person(conn, services, list(chunk)))
        targets = person_ids
    # the topics people hid are not scored in the scopes they hid them from
    hidden = store_person_topics.states(conn, person_ids)
    topics = without_hidden((row for person in targets for row in profile_rows(
        person, facts.get(person, []), services.settings, now)), hidden)
    activity = [row for person in targets
                for row in activity_rows(person, facts.get(person, []), SCOPES)]
    return topics, activity


def facts_by_person(
    conn: Connection, services: Services, person_ids: list[int] | None
) -> dict[int, list[ContributionFacts]]:
    found: dict[int, list[ContributionFacts]] = defaultdict(list)
    for row in store_profiles.iter_scoring_rows(conn, person_ids):
        found[row.person_id].append(facts_from_row(row, services.settings))
    return found


def _topics_of(conn: Connection, person_ids: list[int]) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for chunk in chunks(person_ids, 500):
        rows = conn.execute(select(profile_topics.c.scope, profile_topics.c.topic).where(
            profile_topics.c.person_id.in_(chunk)))
        keys |= {(row.scope, row.topic) for row in rows}
    return keys


def rebuild(services: Services) -> tuple[int, int]:
    """Recompute everything from the store: identities, every profile, the whole index.

    The index is rebuilt in a second thread while the profiles are computed, and the
    community insight in a third from the moment the contributions' topics are known
    (SQLite reads and writes and numpy's sorts run without the GIL, and WAL lets the
    reads run beside the writes); each is written once it is done. Returns (profile
    rows, indexed documents).
    """
    finish_bulk_loads(services)
    with gc_paused():
        with services.engine.begin() as conn:
            store_people.resolve_people(conn)
            organisations_store.refresh(conn, services.config.organisations)
            store_suggestions.refresh(conn)
        with ThreadPoolExecutor(max_workers=2) as pool:
            indexing = pool.submit(services.index.rebuild)
            with services.engine.connect() as conn:
                facts = facts_by_person(conn, services, None)
                # the insight reuses the topics just computed: extracting them again was
                # half its time
                topics = {fact.id: fact.topics for found in facts.values() for fact in found}
                preparing = pool.submit(insight.prepare, services.engine, services.settings,
                                        services.clock, topics)
                rows, activity = _profile_rows(conn, services, None, facts)
            del facts, topics
            documents = indexing.result()
            with services.engine.begin() as conn:
                conn.execute(delete(recompute_queue))
                store_profiles.replace_all_profiles(conn, rows, activity, assign_levels)
            insight.write(services.engine, preparing.result())
    return len(rows), documents


def erase_person(services: Services, person_id: int, suppress: bool = True) -> bool:
    """Erase a person from the store and the index (one transaction), then refresh the
    levels of the topics they were on. Returns False when there is no such person."""
    with services.engine.begin() as conn:
        erased = store_erasure.erase_person(conn, person_id, suppress)
        if erased is None:
            return False
        services.index.update([], erased.contribution_ids, conn)
        store_profiles.refresh_levels(conn, erased.topics, assign_levels)
    drain_index(services)
    return True


def reindex(services: Services) -> int:
    """Rebuild the search index alone from the store (a cluster index is built fresh and
    swapped in, searches see the old one until then). Returns the documents indexed."""
    return services.index.rebuild()


def drain_index(services: Services) -> int:
    """Push the changes waiting in the search outbox to the cluster (the embedded engine
    has none: it changes with the store). Returns how many were pushed; a cluster outage
    leaves them waiting, and the next drain pushes them."""
    if isinstance(services.index, ClusterExpertIndex):
        return services.index.drain()
    return 0
