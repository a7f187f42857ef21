"""The store's tables (SQLAlchemy Core), as the latest migration leaves them.

Migrations under `migrations/versions/` create and change these; this module only
describes them for queries.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "metadata",
    "sources",
    "identities",
    "people",
    "identity_links",
    "link_blocks",
    "manual_links",
    "identity_suggestions",
    "identity_audit",
    "identity_audit_accounts",
    "identity_claims",
    "person_topics",
    "directory_entries",
    "directory_accounts",
    "contributions",
    "interactions",
    "sync_state",
    "sync_errors",
    "profile_topics",
    "profile_people",
    "recompute_queue",
    "bulk_loads",
    "api_clients",
    "suppressions",
    "search_outbox",
    "insight_topic_weeks",
    "insight_bursts",
    "insight_edges",
    "insight_nodes",
    "insight_person_topics",
    "insight_maps",
    "insight_state",
    "jobs",
    "leases",
    "schedule_state",
    "organisations",
    "organisation_domains",
    "organisation_members",
    "organisation_connections",
    "routing_questions",
    "webhook_subscriptions",
    "webhook_outbox",
]

metadata = MetaData()

sources = Table(
    "sources",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("audience", String(16), nullable=False),
    Column("name", String(200)),
    Column("url", Text),
    Column("half_life_days", Float),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", String(64), ForeignKey("sources.id"), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("username", String(255)),
    Column("display_name", String(255)),
    Column("email", String(320)),
    Column("email_verified", Boolean, nullable=False, default=False),
    Column("profile_url", Text),
    # the organisation a partner portal names for the account (service/organisations)
    Column("organisation", String(255)),
    # what the account says about itself on its platform: read by the merge suggestions
    Column("bio", Text),
    Column("website", Text),
    UniqueConstraint("source_id", "external_id", name="uq_identity_source_external"),
    Index("ix_identities_email", "email"),
    Index("ix_identities_username", "source_id", "username"),
)

people = Table(
    "people",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("display_name", String(255), nullable=False),
    Column("email", String(320)),
    Column("department", String(255)),
    Column("opt_out_external", Boolean, nullable=False, default=False),
)

identity_links = Table(
    "identity_links",
    metadata,
    Column("identity_id", Integer, ForeignKey("identities.id"), primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False),
    # single | email | directory | manual
    Column("method", String(16), nullable=False),
    Column("detail", Text),
    Column("linked_at", DateTime(timezone=True), nullable=False),
    Index("ix_identity_links_person", "person_id"),
)

# A manual unlink: these two identities are never merged automatically again.
link_blocks = Table(
    "link_blocks",
    metadata,
    Column("identity_id", Integer, ForeignKey("identities.id"), primary_key=True),
    Column("other_identity_id", Integer, ForeignKey("identities.id"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A manual link: these two identities belong to one person whatever the rules say.
manual_links = Table(
    "manual_links",
    metadata,
    Column("identity_id", Integer, ForeignKey("identities.id"), primary_key=True),
    Column("other_identity_id", Integer, ForeignKey("identities.id"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A likely-but-uncertain merge for an administrator to review (service/identity/
# suggestions.py): the pair is the two people's first accounts (identity_id < other).
# open | accepted | rejected | undone; decided ones stay, so a pair is never suggested again.
identity_suggestions = Table(
    "identity_suggestions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("identity_id", Integer, nullable=False),
    Column("other_identity_id", Integer, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(200)),
    Column("decided_at", DateTime(timezone=True)),
    Column("note", Text),
    UniqueConstraint("identity_id", "other_identity_id", name="uq_identity_suggestion"),
    Index("ix_identity_suggestions_status", "status", "confidence"),
)

# The identity audit log, append-only: every merge, split and reject, who, when, why, and
# the people before and after ([{"person_id", "identities"}]). Undo is a new entry.
identity_audit = Table(
    "identity_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(16), nullable=False),
    Column("method", String(32), nullable=False),
    Column("reason", Text),
    Column("suggestion_id", Integer),
    Column("undoes", Integer),
    Column("before", JSON, nullable=False),
    Column("after", JSON, nullable=False),
)

# Which accounts an audit entry is about: a person's history is the entries of their
# accounts (no foreign key: the history outlives a split, ids are never reused).
identity_audit_accounts = Table(
    "identity_audit_accounts",
    metadata,
    Column("entry_id", Integer, ForeignKey("identity_audit.id"), primary_key=True),
    Column("identity_id", Integer, primary_key=True),
    Index("ix_identity_audit_accounts_identity", "identity_id"),
)

# A person's claim of an account ("forum user awonder is me"): verified when the code
# shows up in the account's profile text (read by a sync) before it expires.
# pending | verified | expired | conflict (another person claimed it: the review queue)
identity_claims = Table(
    "identity_claims",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", Integer, nullable=False),
    Column("identity_id", Integer, nullable=False),
    Column("subject", String(255), nullable=False),
    Column("code", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
    # the e-mailed link (migration 0013): the sha256 of its token, never the token; the
    # masked address it went to; when it was sent and used
    Column("link_hash", String(64)),
    Column("link_sent_to", String(320)),
    Column("link_sent_at", DateTime(timezone=True)),
    Column("link_used_at", DateTime(timezone=True)),
    UniqueConstraint("code", name="uq_identity_claim_code"),
    Index("ix_identity_claims_status", "status", "identity_id"),
    Index("ix_identity_claims_link_hash", "link_hash", unique=True),
)

# What a person decided about one of their topics on "my profile": hidden_all (gone from
# every audience), hidden_external (gone for the external and partner audiences) or
# confirmed (shown with a mark). Keyed by the e-mail they signed in with (the directory's),
# and by the person it finds: a person row made again (a split, a store whose people were
# resolved afresh) takes the rows back by it (service.store.person_topics.follow).
# The history of every change is in the identity audit log.
person_topics = Table(
    "person_topics",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("topic", String(255), primary_key=True),
    # null while nobody holds the e-mail (an erased person)
    Column("person_id", Integer),
    Column("state", String(16), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_person_topics_person", "person_id"),
)

directory_entries = Table(
    "directory_entries",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("name", String(255)),
    Column("department", String(255)),
    # the person's organisation (id or name) and until when they are away, if so
    Column("organisation", String(255)),
    Column("away_until", Date),
)

directory_accounts = Table(
    "directory_accounts",
    metadata,
    Column("email", String(320), ForeignKey("directory_entries.email"), primary_key=True),
    Column("source_id", String(64), primary_key=True),
    Column("username", String(255), nullable=False),
)

contributions = Table(
    "contributions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", String(64), ForeignKey("sources.id"), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("author_identity_id", Integer, ForeignKey("identities.id"), nullable=False),
    Column("thread_external_id", String(255)),
    Column("parent_external_id", String(255)),
    Column("url", Text),
    Column("title", Text, nullable=False, default=""),
    Column("body", Text, nullable=False, default=""),
    Column("tags", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("score", Integer, nullable=False, default=0),
    Column("likes", Integer, nullable=False, default=0),
    Column("accepted", Boolean, nullable=False, default=False),
    Column("replies", Integer, nullable=False, default=0),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("audience", String(16), nullable=False),
    # When a sync pass last saw it; a full pass flags what it did not see as deleted.
    Column("seen_at", DateTime(timezone=True)),
    UniqueConstraint("source_id", "external_id", name="uq_contribution_source_external"),
    Index("ix_contributions_author", "author_identity_id"),
    Index("ix_contributions_thread", "source_id", "thread_external_id"),
    Index("ix_contributions_parent", "source_id", "parent_external_id"),
)

interactions = Table(
    "interactions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", String(64), ForeignKey("sources.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("actor_identity_id", Integer, ForeignKey("identities.id"), nullable=False),
    Column("target_contribution_id", Integer, ForeignKey("contributions.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint(
        "target_contribution_id", "kind", "actor_identity_id", name="uq_interaction"
    ),
    # uq_interaction leads with the target: it serves "the likes of this contribution" too
    Index("ix_interactions_actor", "actor_identity_id"),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("source_id", String(64), ForeignKey("sources.id"), primary_key=True),
    Column("cursor", Text),
    Column("last_run_at", DateTime(timezone=True)),
    Column("last_success_at", DateTime(timezone=True)),
    Column("items_total", Integer, nullable=False, default=0),
    Column("last_error", Text),
)

sync_errors = Table(
    "sync_errors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", String(64), ForeignKey("sources.id"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("cursor", Text),
    Column("message", Text, nullable=False),
)

# OAuth2 clients of the built-in authorization server (secrets stored hashed).
api_clients = Table(
    "api_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("secret_hash", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("scopes", String(255), nullable=False),
    Column("audience", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

# Erased people: their accounts and e-mails are never stored again by a sync.
suppressions = Table(
    "suppressions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", String(64)),
    Column("external_id", String(255)),
    Column("email", String(320)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_suppressions_account", "source_id", "external_id"),
    Index("ix_suppressions_email", "email"),
)

# Identities whose profile must be recomputed: queued in the batch's own transaction,
# cleared once recomputed, so a run killed in between leaves the work for the next run.
recompute_queue = Table(
    "recompute_queue",
    metadata,
    Column("identity_id", Integer, ForeignKey("identities.id"), primary_key=True),
    Column("queued_at", DateTime(timezone=True), nullable=False),
)

# Sources being loaded in bulk (their first import): their reply and accept links are
# made in one pass at the end; a row left by a killed load makes the next ingest or
# rebuild finish it.
bulk_loads = Table(
    "bulk_loads",
    metadata,
    Column("source_id", String(64), ForeignKey("sources.id"), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
)

profile_topics = Table(
    "profile_topics",
    metadata,
    Column("person_id", Integer, ForeignKey("people.id"), primary_key=True),
    # all: every contribution; public: external and partner contributions only
    Column("scope", String(8), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("score", Float, nullable=False),
    Column("level", String(16), nullable=False),
    Column("contributions", Integer, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("last_active", DateTime(timezone=True)),
    Index("ix_profile_topics_topic", "scope", "topic", "score"),
)

# What a person's responses (answers, replies) add up to, per scope as profile_topics: the
# person prior of the search ranking. `activity_log2` is log2 of the sum over responses of
# 2^((created - ACTIVITY_EPOCH) / ACTIVITY_HALF_LIFE), so that the decayed activity at any
# moment is one subtraction away (service.reputation.activity), whenever it was computed.
profile_people = Table(
    "profile_people",
    metadata,
    Column("person_id", Integer, ForeignKey("people.id"), primary_key=True),
    Column("scope", String(8), primary_key=True),
    Column("responses", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("votes", Integer, nullable=False),
    Column("activity_log2", Float),
    Column("last_active", DateTime(timezone=True)),
    Index("ix_profile_people_responses", "scope", "responses"),
)

# Contributions whose search-cluster document is due a refresh (the elasticsearch engine):
# written in the transaction that changes them, deleted once pushed to the cluster.
search_outbox = Table(
    "search_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contribution_id", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Community insight (service/insight), recomputed as a whole after a sync or a rebuild.
# scope: all (every contribution; internal callers) or public (external and partner only,
# opted-out people left out). Per topic and week: contributions and distinct participants
# per audience, and `total` across the scope's audiences.
insight_topic_weeks = Table(
    "insight_topic_weeks",
    metadata,
    Column("scope", String(8), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("week", Date, primary_key=True),
    Column("audience", String(16), primary_key=True),
    Column("contributions", Integer, nullable=False),
    Column("participants", Integer, nullable=False),
)

# Bursts of a topic's weekly contributions; `end` is null while the burst goes on.
insight_bursts = Table(
    "insight_bursts",
    metadata,
    Column("scope", String(8), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("start", Date, primary_key=True),
    Column("peak", Date, nullable=False),
    Column("end", Date),
    Column("peak_contributions", Integer, nullable=False),
    Column("baseline", Float, nullable=False),
    Column("strength", Float, nullable=False),
)

# The connection map between people (person_a < person_b); topic "" is every topic.
insight_edges = Table(
    "insight_edges",
    metadata,
    Column("scope", String(8), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("person_a", Integer, primary_key=True),
    Column("person_b", Integer, primary_key=True),
    Column("weight", Float, nullable=False),
    Column("replies", Integer, nullable=False),
    Column("likes", Integer, nullable=False),
    Column("accepts", Integer, nullable=False),
    Column("threads", Integer, nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
    Index("ix_insight_edges_weight", "scope", "topic", "weight"),
    Index("ix_insight_edges_b", "scope", "topic", "person_b"),
)

# The people on the map: their communities (audiences, comma-separated), the sum of their
# edge weights and their bridge score between communities.
insight_nodes = Table(
    "insight_nodes",
    metadata,
    Column("scope", String(8), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("person_id", Integer, primary_key=True),
    Column("communities", String(40), nullable=False),
    Column("strength", Float, nullable=False),
    Column("bridge", Float, nullable=False),
    Index("ix_insight_nodes_bridge", "scope", "topic", "bridge"),
)

# Per person and topic: the community they are in on it (the audience of most of their
# contributions there) and how much they contributed lately.
insight_person_topics = Table(
    "insight_person_topics",
    metadata,
    Column("scope", String(8), primary_key=True),
    Column("person_id", Integer, primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("community", String(16), nullable=False),
    Column("contributions", Integer, nullable=False),
    Column("last_30_days", Integer, nullable=False),
    Column("last_90_days", Integer, nullable=False),
    Column("last_active", DateTime(timezone=True), nullable=False),
    Index("ix_insight_person_topics_topic", "scope", "topic", "last_90_days"),
)

# Per scope and map (topic, "" for the whole map): how many edges insight_edges keeps, so
# that a page of the map need not count them.
insight_maps = Table(
    "insight_maps",
    metadata,
    Column("scope", String(8), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("edges", Integer, nullable=False),
)

# When the insight tables were last computed (one row), as of which clock, and how long it took.
insight_state = Table(
    "insight_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("seconds", Float, nullable=False),
)


# A sync job: its state (queued, running, succeeded, failed), progress and result; the
# worker running it (`owner`) holds it until `lease_until`, renewed while it runs.
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("source_id", String(64), ForeignKey("sources.id"), nullable=False),
    Column("full", Boolean, nullable=False),
    Column("state", String(16), nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    #: when the full pass this job walks began (kept across retries: what it did not see
    #: since then is flagged deleted at its end)
    Column("pass_started_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False),
    Column("owner", String(128)),
    Column("lease_until", DateTime(timezone=True)),
    Column("items", Integer, nullable=False),
    Column("items_total", Integer),
    Column("pages", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("result", JSON),
    Column("error", Text),
    Index("ix_jobs_source_state", "source_id", "state"),
    Index("ix_jobs_state_lease", "state", "lease_until"),
)

# A named lease: "sync:<source id>" (one sync per source at a time), "scheduler" (the one
# scheduler that enqueues). `holder` is the job holding a source's lease.
leases = Table(
    "leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("owner", String(128)),
    Column("holder", String(64)),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# The newest schedule slot a job was enqueued for, per source: claimed atomically, so
# a slot is enqueued once whatever the number of schedulers.
schedule_state = Table(
    "schedule_state",
    metadata,
    Column("source_id", String(64), ForeignKey("sources.id"), primary_key=True),
    Column("last_slot", DateTime(timezone=True)),
)

# Organisations (service/organisations): the company, customers and partners. `origin`:
# company | crm (registered by PUT) | derived (from an e-mail domain or a portal or
# directory field). A CRM addresses one by its own `crm_account_id`.
organisations = Table(
    "organisations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("crm_account_id", String(255)),
    Column("origin", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("crm_account_id", name="uq_organisations_crm_account"),
)

organisation_domains = Table(
    "organisation_domains",
    metadata,
    Column("domain", String(255), primary_key=True),
    Column("organisation_id", String(64), ForeignKey("organisations.id"), nullable=False),
    Index("ix_organisation_domains_org", "organisation_id"),
)

# Who belongs where, recomputed from the rules (service/organisations/membership.py);
# method: company | directory | portal | email_domain, detail: the field or domain.
organisation_members = Table(
    "organisation_members",
    metadata,
    # no foreign key to people: identity resolution removes people, and `refresh` follows
    Column("person_id", Integer, primary_key=True),
    Column("organisation_id", String(64), ForeignKey("organisations.id"), nullable=False),
    Column("method", String(16), nullable=False),
    Column("detail", Text),
    Index("ix_organisation_members_org", "organisation_id"),
)

# The employees connected to each organisation as last announced (the
# organisation.connection_changed event compares against it).
organisation_connections = Table(
    "organisation_connections",
    metadata,
    Column("organisation_id", String(64), primary_key=True),
    Column("person_id", Integer, primary_key=True),
    Column("strength", Float, nullable=False),
)

# Questions routing has announced as open (state open) and then as answered.
routing_questions = Table(
    "routing_questions",
    metadata,
    Column("contribution_id", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True)),
    # the person ids suggested when it was announced (the load of open suggestions)
    Column("suggested", JSON, nullable=False),
    Index("ix_routing_questions_state", "state"),
)

# Outbound webhook subscriptions (service/routing/webhooks.py). The secret signs the
# deliveries, so it is kept; the API shows it once, at creation.
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False),
    Column("secret", String(255), nullable=False),
    Column("description", String(255)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
)

# One row per event and subscription, written in the transaction that notices the event:
# pending until a 2xx (delivered) or the last attempt (failed). `event_id` is the
# idempotency key the receiver sees on every attempt.
webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscription_id", Integer, ForeignKey("webhook_subscriptions.id"), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("delivered_at", DateTime(timezone=True)),
    UniqueConstraint("subscription_id", "event_id", name="uq_webhook_outbox_event"),
    Index("ix_webhook_outbox_due", "status", "next_attempt_at"),
)
