"""The `whoknows` command."""

from __future__ import annotations

import getpass
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
import msgspec

from service import pipeline, review
from service.api.scopes import ALL_SCOPES
from service.config import Config, ConfigError, load_config
from service.connectors import build_connector
from service.connectors.base import ConnectorError
from service.directory import DirectoryError, read_directory_csv
from service.identity.audit import Cause
from service.identity.suggestions import AGAINST
from service.model import Audience, ContributionRecord
from service.ops.logs import configure_logging
from service.ops.shutdown import StopOnSignal
from service.present import print_profile, print_search
from service.search.base import ExpertQuery, QueryError
from service.store import audit as store_audit
from service.store import clients as store_clients
from service.store import contributions as store_contributions
from service.store import jobs as store_jobs
from service.store import people as store_people
from service.store import suggestions as store_suggestions
from service.store import sync as store_sync
from service.store.db import missing_sqlite_file

__all__ = ["main"]

log = logging.getLogger("whoknows.cli")


#: What to do about an empty store (search, and the `import` of an unknown source).
LOAD_HINT = ("load the demo company with `whoknows demo`, a file of records with "
             "`whoknows import FILE --source ID`, or the configured sources with "
             "`whoknows sync`")


class _State:
    def __init__(self, config_path: str | None, log_format: str = "text") -> None:
        self.config_path = config_path
        self.log_format = log_format
        self._config: Config | None = None
        self._services: pipeline.Services | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def services(self) -> pipeline.Services:
        if self._services is None:
            self._services = pipeline.open_services(self.config)
        return self._services

    def loaded_services(self) -> pipeline.Services:
        """The services of a store that holds contributions; a reading command on a
        missing or empty store stops with what to run (without creating the store)."""
        missing = missing_sqlite_file(self.config.database.url)
        if missing is not None:
            raise click.ClickException(f"nothing is loaded yet (no store at {missing}): "
                                       f"{LOAD_HINT}")
        services = self.services
        with services.engine.connect() as conn:
            if not store_contributions.any_contribution(conn):
                raise click.ClickException(f"nothing is loaded yet (the store has no "
                                           f"contributions): {LOAD_HINT}")
        return services


def _fail_cleanly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a user can fix into one clear line and exit status 2."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, QueryError, DirectoryError, ConnectorError) as exc:
            raise click.ClickException(str(exc)) from exc

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


@click.group()
@click.option("--config", "config_path", envvar="WHOKNOWS_CONFIG", default=None,
              help="Configuration file (default: whoknows.toml).")
@click.option("--log-format", envvar="WHOKNOWS_LOG_FORMAT", type=click.Choice(["text", "json"]),
              default="text", help="json: log records as JSON lines on stderr (containers).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_format: str) -> None:
    """whoknows: who knows what, across internal and external communities."""
    if log_format == "json":
        configure_logging("json")
    ctx.obj = _State(config_path, log_format)


@cli.command()
@click.pass_obj
@_fail_cleanly
def init(state: _State) -> None:
    """Create or upgrade the store's schema."""
    services = state.services
    click.echo(f"store ready at {services.engine.url.render_as_string(hide_password=True)}")


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", "source_id", required=True, help="Source id the records belong to.")
@click.pass_obj
@_fail_cleanly
def import_(state: _State, file: Path, source_id: str) -> None:
    """Import canonical contribution records from a JSON Lines file."""
    report = pipeline.import_jsonl(state.services, file, source_id)
    stored = report.stored
    click.echo(f"{report.lines} lines: {stored.inserted} new, {stored.updated} updated, "
               f"{stored.unchanged} unchanged, {len(report.malformed)} malformed; "
               f"{report.people_recomputed} people recomputed")
    for number, message in report.malformed[:50]:
        click.echo(f"  line {number}: {message}", err=True)
    if report.malformed:
        sys.exit(1)


@cli.command("import-stackexchange")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--source", "source_id", required=True, help="Source id the records belong to.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), default=None,
              help="Only what was created before this date (UTC).")
@click.option("--site-url", default=None, help="For links, e.g. https://beer.stackexchange.com")
@click.pass_obj
@_fail_cleanly
def import_stackexchange(state: _State, folder: Path, source_id: str, until: datetime | None,
                         site_url: str | None) -> None:
    """Import a StackExchange data dump (Posts.xml, Users.xml, Votes.xml, Comments.xml)."""
    from service.importers import StackExchangeDump

    dump = StackExchangeDump(folder, until=until, site_url=site_url)
    with click.progressbar(length=0, label=source_id, show_pos=True) as bar:
        report = pipeline.ingest_pages(state.services, source_id, dump.pages(), full_pass=False,
                                       progress=lambda done, _: bar.update(done - bar.pos),
                                       bulk=True)
    counts, batch = dump.counts, report.batch
    click.echo(f"{counts.questions} questions, {counts.answers} answers, {counts.comments} "
               f"comments: {batch.inserted} new, {batch.updated} updated, {batch.unchanged} "
               f"unchanged; {counts.skipped} skipped, {counts.malformed} malformed; "
               f"{report.people_recomputed} people recomputed")
    for message in report.errors[:50]:
        click.echo(f"  {message}", err=True)
    if report.failed:
        click.echo(f"{source_id}: failed: {report.failed}", err=True)
    if report.errors or report.failed:
        sys.exit(1)


@cli.command()
@click.argument("source_ids", nargs=-1)
@click.option("--full", is_flag=True, help="Start from scratch (and flag deletions).")
@click.pass_obj
@_fail_cleanly
def sync(state: _State, source_ids: tuple[str, ...], full: bool) -> None:
    """Pull new and changed contributions from the configured sources."""
    services = state.services
    chosen = source_ids or tuple(s.id for s in services.config.sources if s.kind != "push")
    if not chosen:
        click.echo("no sources to sync: add [[sources]] to the configuration")
    failed = False
    # SIGTERM (a CronJob's pod stopped) ends the run after the page being stored
    with StopOnSignal() as stop:
        for source_id in chosen:
            if stop.requested.is_set():
                break
            failed = _sync_one(services, source_id, full, stop, state.log_format) or failed
    if stop.requested.is_set():
        sys.exit(143)  # 128 + SIGTERM, as if the signal had ended the process
    if failed:
        sys.exit(1)


class _EchoRetries(logging.Handler):
    """Prints the HTTP client's retry warnings (what failed, the attempt, the wait) on
    stderr while a sync runs, where no log handler is set up (the text log format)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"\n  {record.getMessage()}", err=True)


@contextmanager
def _retries_shown(log_format: str) -> Iterator[None]:
    if log_format == "json":  # the JSON log on stderr has them already
        yield
        return
    logger, handler = logging.getLogger("service.connectors.http"), _EchoRetries()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _sync_one(services: pipeline.Services, source_id: str, full: bool,
              stop: StopOnSignal, log_format: str = "text") -> bool:
    """Sync one source as a job run here (so it takes the source's lease: no worker syncs
    it meanwhile, and it shows in GET /v1/jobs); print and log its report; return whether
    it failed."""
    from service.jobs.runner import owner_name, run_job

    source = services.config.source(source_id)
    if source is None:
        raise ConfigError(f"source {source_id!r} is not in the configuration")
    build_connector(source, services.config.secrets.get(source_id))  # its settings: checked
    owner = owner_name("cli-")
    now = datetime.now(UTC)
    with services.engine.begin() as conn:
        job = store_jobs.create_job(conn, source_id, full, "cli", now)
    report = pipeline.SyncReport(source_id)
    with _retries_shown(log_format), click.progressbar(length=0, label=f"{source_id}",
                                             show_pos=True) as bar:
        def progress(done: int, total: int | None, bar: Any = bar) -> None:
            if total:
                bar.length = total
            bar.update(done - bar.pos)

        outcome = run_job(services, None, job.id, owner, stop.requested, report=report,
                          progress=progress)
    if outcome in ("busy", "released"):
        reason = ("stopped by SIGTERM; the next run resumes after the last stored page"
                  if outcome == "released" else
                  "another job is syncing this source now (one sync per source at a time)")
        with services.engine.begin() as conn:
            store_jobs.cancel(conn, job.id, datetime.now(UTC), reason)
        if outcome == "busy":
            click.echo(f"{source_id}: not synced: {reason}", err=True)
            return True
    batch = report.batch
    click.echo(f"{source_id}: {batch.inserted} new, {batch.updated} updated, "
               f"{report.flagged_deleted} deleted, {len(report.errors)} skipped items, "
               f"{report.people_recomputed} people recomputed")
    log.info("sync finished", extra={
        "source": source_id, "pages": report.pages, "inserted": batch.inserted,
        "updated": batch.updated, "deleted": report.flagged_deleted,
        "skipped": len(report.errors), "people_recomputed": report.people_recomputed,
        "failed": report.failed, "job": job.id})
    if report.failed:
        click.echo(f"{source_id}: failed: {report.failed}", err=True)
    elif outcome != "succeeded":
        with services.engine.connect() as conn:
            ended = store_jobs.get_job(conn, job.id)
        click.echo(f"{source_id}: failed: {ended.error if ended else 'see the log'}", err=True)
    return report.failed is not None or outcome != "succeeded"


@cli.command()
@click.pass_obj
@_fail_cleanly
def sources(state: _State) -> None:
    """List sources with their sync state and last error."""
    with state.services.engine.connect() as conn:
        for s in store_sync.list_sources(conn):
            last = s.last_success_at.isoformat(timespec="seconds") if s.last_success_at else "never"
            skipped = (f"skipped items {s.errors} in all runs, the newest "
                       f"{s.last_error_item_at.isoformat(timespec='seconds')}"
                       if s.errors and s.last_error_item_at else "no skipped items")
            click.echo(f"{s.id:<20} {s.kind:<18} {s.audience:<9} {s.contributions:>8} items  "
                       f"last success {last}  {skipped}")
            if s.last_error:
                # A connector's error says what was retried and why the run stopped.
                ran = s.last_run_at.isoformat(timespec="seconds") if s.last_run_at else "?"
                click.echo(f"{'':<20} last run {ran} gave up: {s.last_error}")


@cli.group()
def directory() -> None:
    """The people directory (CSV or SCIM export)."""


@directory.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
@_fail_cleanly
def directory_import(state: _State, file: Path) -> None:
    """Import people.csv: email, name, department, and a column per source id."""
    entries, problems = read_directory_csv(file)
    services = state.services
    with services.engine.begin() as conn:
        count = store_people.import_directory(conn, entries)
    recomputed = pipeline.resolve_and_recompute(services, set())
    click.echo(f"{count} directory entries stored; {recomputed} people recomputed")
    for problem in problems:
        click.echo(f"  {problem}", err=True)


def _account(conn: Any, value: str) -> int:
    source_id, _, account = value.partition(":")
    identity = store_people.find_identity(conn, source_id, account) if account else None
    if identity is None:
        raise click.ClickException(f"no account {value!r} (write SOURCE:ACCOUNT)")
    return identity


_REASON = click.option("--reason", default=None, help="Why (kept in the identity audit log).")


@cli.command()
@click.argument("first")
@click.argument("second")
@_REASON
@click.pass_obj
@_fail_cleanly
def link(state: _State, first: str, second: str, reason: str | None) -> None:
    """Manually link two accounts (SOURCE:ACCOUNT) as one person."""
    services = state.services
    with services.engine.begin() as conn:
        ids = (_account(conn, first), _account(conn, second))
        store_people.add_manual_link(conn, *ids)
    pipeline.resolve_for(services, Cause(_actor(), "manual", reason, frozenset(ids)))
    click.echo(f"linked {first} and {second}")


@cli.command()
@click.argument("account")
@_REASON
@click.pass_obj
@_fail_cleanly
def unlink(state: _State, account: str, reason: str | None) -> None:
    """Manually split an account (SOURCE:ACCOUNT) off its person, for good."""
    services = state.services
    with services.engine.begin() as conn:
        identity = _account(conn, account)
        person = store_people.person_of(conn, identity)
        if person is not None:
            store_people.block_link(conn, identity, person)
    pipeline.resolve_for(services, Cause(_actor(), "manual", reason, frozenset((identity,))))
    click.echo(f"unlinked {account}")


# --- identity review: merge suggestions, the audit log, undo (issue 16) ---


def _actor() -> str:
    """Who acts from the command line, for the identity audit log."""
    return f"cli:{getpass.getuser()}"


def _reviewed(action: Callable[[], review.Outcome]) -> review.Outcome:
    try:
        return action()
    except review.ReviewError as exc:
        raise click.ClickException(str(exc)) from exc


@cli.group()
def suggestions() -> None:
    """The review queue of merge suggestions: list, accept, reject."""


@suggestions.command("list")
@click.option("--status", type=click.Choice(store_suggestions.STATUSES), default="open",
              show_default=True)
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object a line).")
@click.pass_obj
@_fail_cleanly
def suggestions_list(state: _State, status: str, min_confidence: float, limit: int,
                     as_json: bool) -> None:
    """Suggested merges, most confident first, with their reasons."""
    with state.services.engine.connect() as conn:
        found = store_suggestions.list_suggestions(conn, status, min_confidence, limit)
    for item in found:
        sides = [item.first, item.second]
        if as_json:
            click.echo(json.dumps({"id": item.id, "confidence": item.confidence,
                                   "status": item.status, "reasons": item.reasons,
                                   "people": [{"person_id": s.person_id,
                                               "display_name": s.display_name,
                                               "accounts": s.accounts} for s in sides]}))
            continue
        click.echo(f"#{item.id}  {item.confidence:.2f}  " + "  <->  ".join(
            f"{s.display_name} (person {s.person_id}: "
            + ", ".join(f"{a['source']}:{a['username']}" for a in s.accounts) + ")"
            for s in sides))
        for reason in item.reasons:  # + for, - against
            sign = "-" if reason["code"] in AGAINST else "+"
            click.echo(f"      {sign} {reason['detail']}")
    if not found and not as_json:
        click.echo(f"no {status} suggestions")


@suggestions.command("accept")
@click.argument("suggestion_id", type=int)
@_REASON
@click.pass_obj
@_fail_cleanly
def suggestions_accept(state: _State, suggestion_id: int, reason: str | None) -> None:
    """Merge a suggested pair into one person."""
    outcome = _reviewed(lambda: review.accept(state.services, suggestion_id, _actor(), reason))
    click.echo(f"accepted #{suggestion_id}: now person {outcome.person_id} "
               f"(audit entries {', '.join(map(str, outcome.audit_ids))})")


@suggestions.command("reject")
@click.argument("suggestion_id", type=int)
@_REASON
@click.pass_obj
@_fail_cleanly
def suggestions_reject(state: _State, suggestion_id: int, reason: str | None) -> None:
    """Keep a suggested pair apart for good (never suggested or merged again)."""
    outcome = _reviewed(lambda: review.reject(state.services, suggestion_id, _actor(), reason))
    click.echo(f"rejected #{suggestion_id} (audit entry {outcome.audit_ids[0]})")


@cli.command()
@click.argument("who", required=False)
@click.option("--format", "as_format", type=click.Choice(["text", "jsonl", "csv"]),
              default="text", show_default=True, help="jsonl and csv: for export.")
@click.pass_obj
@_fail_cleanly
def audit(state: _State, who: str | None, as_format: str) -> None:
    """The identity audit log: whole, or of one person (WHO: an e-mail, a person id or
    SOURCE:ACCOUNT)."""
    with state.services.engine.connect() as conn:
        person = _person_id(conn, who) if who else None
        found = store_audit.entries(conn, person)
    if as_format == "jsonl":
        click.echo("".join(store_audit.export_jsonl(found)), nl=False)
    elif as_format == "csv":
        click.echo("".join(store_audit.export_csv(found)), nl=False)
    else:
        for e in found:
            groups = " | ".join(f"person {g['person_id'] or 'new'}: "
                                + ",".join(map(str, g["identities"])) for g in e.after)
            undoes = f" (undoes #{e.undoes})" if e.undoes else ""
            why = f" - {e.reason}" if e.reason else ""
            click.echo(f"#{e.id} {e.at:%Y-%m-%d %H:%M} {e.action} by {e.method}{undoes}, "
                       f"{e.actor}: {groups}{why}")
        if not found:
            click.echo("no identity changes recorded")


def _person_id(conn: Any, who: str) -> int:
    if ":" in who and "@" not in who:
        person = store_people.person_of(conn, _account(conn, who))
    else:
        row = store_people.find_person(conn, who)
        person = row.id if row is not None else None
    if person is None:
        raise click.ClickException(f"nobody known as {who!r}")
    return int(person)


@cli.command()
@click.argument("entry_id", type=int)
@_REASON
@click.pass_obj
@_fail_cleanly
def undo(state: _State, entry_id: int, reason: str | None) -> None:
    """Undo an identity merge (apart again, for good) or split; a new audit entry."""
    outcome = _reviewed(lambda: review.undo(state.services, entry_id, actor=_actor(),
                                            reason=reason))
    click.echo(f"undid #{entry_id} (audit entries {', '.join(map(str, outcome.audit_ids))})")


# --- end identity review ---


@cli.command()
@click.pass_obj
@_fail_cleanly
def rebuild(state: _State) -> None:
    """Recompute every identity, profile and the search index from the store."""
    started = datetime.now(UTC)
    rows, docs = pipeline.rebuild(state.services)
    seconds = (datetime.now(UTC) - started).total_seconds()
    click.echo(f"rebuilt {rows} profile rows and {docs} indexed documents in {seconds:.1f}s")


@cli.command()
@click.pass_obj
@_fail_cleanly
def reindex(state: _State) -> None:
    """Rebuild the search index from the store (a cluster index: built fresh, then swapped
    in; searches go on meanwhile)."""
    started = datetime.now(UTC)
    docs = pipeline.reindex(state.services)
    seconds = (datetime.now(UTC) - started).total_seconds()
    click.echo(f"indexed {docs} documents in {seconds:.1f}s")


@cli.command()
@click.argument("who")
@click.option("--explain", is_flag=True, help="Print the breakdown behind each score.")
@click.option("--audience", type=click.Choice([a.value for a in Audience]),
              default="internal", show_default=True)
@click.pass_obj
@_fail_cleanly
def profile(state: _State, who: str, explain: bool, audience: str) -> None:
    """Show a person's expertise profile (by e-mail or person id)."""
    print_profile(state.services, who, explain=explain, audience=Audience(audience))


@cli.command()
@click.argument("query")
@click.option("--audience", type=click.Choice([a.value for a in Audience]),
              default="internal", show_default=True)
@click.option("--source", "sources_", multiple=True, help="Only these sources.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Only contributions since this date.")
@click.option("--limit", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@_fail_cleanly
def search(state: _State, query: str, audience: str, sources_: tuple[str, ...],
           since: datetime | None, limit: int, as_json: bool) -> None:
    """Who knows about QUERY? People ranked, with topics and evidence."""
    services = state.loaded_services()
    result = services.index.search(ExpertQuery(
        text=query, audience=Audience(audience), sources=sources_,
        since=since.replace(tzinfo=UTC) if since else None, limit=limit))
    print_search(result, query, audience, as_json=as_json)


@cli.command()
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Last day of the demo's two years (default: today).")
@click.option("--serve", "serve_port", type=int, default=None, metavar="PORT",
              help="Then create a demo API client and serve the API on 127.0.0.1:PORT.")
@click.pass_obj
@_fail_cleanly
def demo(state: _State, end: datetime | None, serve_port: int | None) -> None:
    """Load the bundled demo company (three communities, two years) and show answers."""
    from service.demo.loader import load_demo

    day = (end.date() if end else date.today())
    load_demo(state.services, day, echo=click.echo)
    if serve_port is None:
        return
    with state.services.engine.begin() as conn:
        for client in store_clients.list_clients(conn):
            if client.name == "demo" and not client.revoked:
                store_clients.revoke_client(conn, client.client_id)
        client_id, secret = store_clients.create_client(conn, "demo", list(ALL_SCOPES),
                                                        "internal")
    base = f"http://127.0.0.1:{serve_port}"
    click.echo(f"""
The intranet "who knows what" page (open in demo mode): {base}/

Demo API client (all scopes, internal audience; a new secret each run):
  client_id:     {client_id}
  client_secret: {secret}
Try:
  TOKEN=$(curl -s -u {client_id}:{secret} -d grant_type=client_credentials {base}/oauth/token \\
          | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -H "Authorization: Bearer $TOKEN" '{base}/v1/experts?q=medical+insurance+claims&limit=3'
""")
    from service.api import create_app

    create_app({"SERVICES": state.services}).run(host="127.0.0.1", port=serve_port)


@cli.group()
def clients() -> None:
    """OAuth2 clients of the API (client credentials)."""


@clients.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(list(ALL_SCOPES)), help="Repeat for several scopes.")
@click.option("--audience", type=click.Choice([a.value for a in Audience]), required=True)
@click.pass_obj
@_fail_cleanly
def clients_create(state: _State, name: str, scopes: tuple[str, ...], audience: str) -> None:
    """Create a client; its secret is shown once."""
    if "admin" in scopes and audience != Audience.INTERNAL:
        raise click.UsageError("the admin scope needs --audience internal: admin answers "
                               "carry internal sources' states and errors")
    with state.services.engine.begin() as conn:
        client_id, secret = store_clients.create_client(conn, name, list(scopes), audience)
    click.echo(f"client_id:     {client_id}\nclient_secret: {secret}  (shown once)")


@clients.command("list")
@click.pass_obj
@_fail_cleanly
def clients_list(state: _State) -> None:
    """List clients (never their secrets)."""
    with state.services.engine.connect() as conn:
        for client in store_clients.list_clients(conn):
            status = "revoked" if client.revoked else "active"
            click.echo(f"{client.client_id}  {client.name:<24} {client.audience:<9} "
                       f"{' '.join(client.scopes)}  {status}")


@clients.command("revoke")
@click.argument("client_id")
@click.pass_obj
@_fail_cleanly
def clients_revoke(state: _State, client_id: str) -> None:
    """Revoke a client: it can get no new token, and every replica refuses the tokens it
    holds within `api.revocation_check_seconds`."""
    with state.services.engine.begin() as conn:
        if not store_clients.revoke_client(conn, client_id):
            raise click.ClickException(f"no active client {client_id!r}")
    delay = state.services.config.api.revocation_check_seconds
    click.echo(f"revoked {client_id}: its tokens are refused within {delay:g} s")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.pass_obj
@_fail_cleanly
def serve(state: _State, host: str, port: int) -> None:
    """Serve the HTTP API for local use (production: gunicorn 'service.api.wsgi:app')."""
    from service.api import create_app

    create_app({"SERVICES": state.services}).run(host=host, port=port)


_health_port = click.option("--health-port", type=int, default=None, metavar="PORT",
                            help="Answer GET /healthz on this port (the chart's probes).")


def _long_running(state: _State, round_seconds: float, health_port: int | None) -> Any:
    """A worker's or scheduler's start: its log as text (its output), and the heartbeat
    of its rounds, served on `health_port` when given."""
    from service.jobs.health import Heartbeat

    if state.log_format == "text":
        configure_logging("text")
    heartbeat = Heartbeat(max_age=max(30.0, 3 * round_seconds))
    if health_port is not None:
        heartbeat.serve(health_port)
    return heartbeat


@cli.command()
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
@_health_port
@click.pass_obj
@_fail_cleanly
def worker(state: _State, burst: bool, health_port: int | None) -> None:
    """Run sync jobs from the queue on Redis ([jobs] redis_url), until SIGTERM."""
    from service.jobs.worker import run_worker

    heartbeat = _long_running(state, state.config.jobs.lease_seconds, health_port)
    run_worker(state.services, burst=burst, beat=heartbeat.beat)


@cli.command()
@click.option("--once", is_flag=True, help="One round, then exit.")
@_health_port
@click.pass_obj
@_fail_cleanly
def scheduler(state: _State, once: bool, health_port: int | None) -> None:
    """Enqueue the sources' scheduled syncs (their `schedule`); workers run them. Several
    may run: one leads, through the store."""
    from service.jobs.dispatch import open_queue
    from service.jobs.scheduler import Scheduler

    services = state.services
    if not any(s.schedule for s in services.config.sources):
        click.echo("no source has a schedule: nothing to enqueue", err=True)
    if not services.config.jobs.redis_url:
        raise click.ClickException(
            "whoknows scheduler enqueues for workers on Redis: set [jobs] redis_url "
            "(WHOKNOWS_JOBS_REDIS_URL); without it the API process runs the schedules and "
            "their jobs itself")
    planner = Scheduler(services, open_queue(services))
    if once:
        for job in planner.tick():
            click.echo(f"queued job {job.id}: {'full' if job.full else 'incremental'} "
                       f"sync of {job.source_id}")
        return
    heartbeat = _long_running(state, services.config.jobs.scheduler_tick_seconds, health_port)
    with StopOnSignal() as signalled:  # SIGTERM: resign the lead and exit
        planner.run(signalled.requested, beat=heartbeat.beat)
# --- organisations, open questions, outbound webhooks (issue 17) ---


@cli.group()
def organisations() -> None:
    """Organisations: the company, its customers and partners."""


@organisations.command("list")
@click.option("--search", "query", default=None, help="A part of a name, id or domain.")
@click.pass_obj
@_fail_cleanly
def organisations_list(state: _State, query: str | None) -> None:
    """List organisations with their domains and member counts."""
    from service.organisations import store as org_store

    with state.services.engine.connect() as conn:
        items, total = org_store.list_organisations(conn, query, None, None, 1000, 0)
    for org in items:
        click.echo(f"{org.id}  {org.name}  [{org.origin}]  {org.members} people  "
                   f"{', '.join(org.domains)}")
    click.echo(f"{total} organisations")


@cli.group()
def webhooks() -> None:
    """Outbound webhooks: notice events and deliver the outbox."""


@webhooks.command("deliver")
@click.option("--loop", is_flag=True, help="Keep going every [webhooks] poll_seconds until "
              "SIGTERM or Ctrl+C.")
@click.pass_obj
@_fail_cleanly
def webhooks_deliver(state: _State, loop: bool) -> None:
    """Notice open and answered questions and changed connections, then deliver what
    the outbox holds that is due (retrying failures with backoff)."""
    from service.routing.events import run_once

    services = state.services
    with StopOnSignal() as stop:
        while True:
            scanned, delivered = run_once(services, services.clock)
            click.echo(f"questions opened {scanned.opened}, answered {scanned.answered}; "
                       f"organisations changed {scanned.organisations_changed}; deliveries "
                       f"{delivered.delivered} delivered, {delivered.failed} failed, "
                       f"{delivered.attempted - delivered.delivered - delivered.failed} "
                       "to retry")
            if not loop or stop.requested.wait(services.config.webhooks.poll_seconds):
                return


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the canonical contribution record."""
    click.echo(json.dumps(msgspec.json.schema(ContributionRecord), indent=2))


@cli.command()
@click.option("--refresh", is_flag=True,
              help="Recompute the insight tables now (schedule it for push-only sources).")
@click.option("--trending", is_flag=True, help="Topics in a burst now or lately.")
@click.option("--activity", "topic", default=None, help="A topic's weekly activity and bursts.")
@click.option("--weeks", default=8, show_default=True, type=click.IntRange(1, 260),
              help="--trending: bursts ended this many weeks ago; --activity: weeks shown.")
@click.option("--audience", type=click.Choice([a.value for a in Audience]), default="internal",
              show_default=True, help="Whose view: external and partner see no internal data.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@_fail_cleanly
def topics(state: _State, refresh: bool, trending: bool, topic: str | None, weeks: int,
           audience: str, as_json: bool) -> None:
    """Community insight: trending topics, or one topic's weekly activity."""
    from service import insight
    from service.insight import queries as insight_queries

    services = state.services
    if refresh:
        seconds = insight.refresh(services.engine, services.settings, services.clock)
        click.echo(f"insight recomputed in {seconds:.1f} s", err=True)
        if not trending and topic is None:
            return
    if trending == (topic is not None):
        raise click.UsageError("give --trending or --activity TOPIC (or --refresh)")
    scope = "all" if audience == "internal" else "public"
    today = services.clock().date()
    with services.engine.connect() as conn:
        if trending:
            found: Any = insight_queries.trending(conn, scope, today, weeks, 20)
        else:
            name = services.vocabulary.normalise(topic or "") or ""
            found = insight_queries.activity(conn, scope, name, today, weeks)
            if found is None:
                raise click.ClickException(f"no activity on {name!r} in the {audience} view")
    if as_json:
        click.echo(json.dumps(found, indent=2))
    elif trending:
        for b in found:
            state_text = "ongoing" if b["ongoing"] else f"ended {b['end']}"
            click.echo(f"{b['topic']}: since {b['start']}, peak {b['peak_contributions']} "
                       f"in week {b['peak']} (usual {b['baseline']:g}), {state_text}")
        if not found:
            click.echo("no topic is in a burst")
    else:
        for week in found["weeks"]:
            click.echo(f"{week['week']}  {week['contributions']:5d} contributions "
                       f"{week['participants']:4d} people")
        for b in found["bursts"]:
            click.echo(f"burst: {b['start']} to {b['end'] or 'now'}, peak {b['peak']}")


def main() -> None:
    cli()
