"""Outbound webhooks: subscriptions, the outbox, the signature, delivery with retries.

An event is written to `webhook_outbox` (one row per subscribed subscription) in the
transaction that notices it, so a crash or restart never loses one. `deliver_due` sends
the rows that are due: a 2xx marks a row delivered; anything else (an error status, a
refused connection, a timeout) schedules the next attempt after `backoff_seconds`,
doubled after each failure up to `max_backoff_seconds`, until `max_attempts` marks it
failed. A row is leased before it is sent (its next attempt pushed past the timeout), so
two delivering processes do not send it at once, and a process killed mid-send leaves it
due again: delivery is at least once, and every attempt carries the same
`Idempotency-Key` (the event id) for the receiver to process each event once.

The signature follows Stripe's scheme: `Whoknows-Signature: t=<unix seconds>,v1=<hex>`,
v1 = HMAC-SHA256(secret, "<t>.<raw body>"); `verify` is the receiver's side.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Iterable, Sequence
import ipaddress
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine

from service.config import WebhooksConfig
from service.store.db import from_db_time
from service.store.schema import webhook_outbox, webhook_subscriptions

__all__ = ["EVENTS", "SIGNATURE_HEADER", "Delivered", "backoff", "create_subscription",
           "deliveries", "deliver_due", "delete_subscription", "enqueue", "get_subscription",
           "list_subscriptions", "private_address", "sign", "verify"]

EVENTS = ("question.open", "question.answered", "organisation.connection_changed")
SIGNATURE_HEADER = "Whoknows-Signature"
#: how old a signature's timestamp `verify` accepts
TOLERANCE_SECONDS = 300
_BATCH = 50


def sign(secret: str, timestamp: int, body: str) -> str:
    """The `Whoknows-Signature` header value for a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, header: str, body: str, now: float,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether `header` signs `body` with `secret`, with a timestamp at most `tolerance`
    seconds from `now` (a replayed old delivery fails)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return abs(now - timestamp) <= tolerance and hmac.compare_digest(
        expected, parts.get("v1", ""))


def backoff(attempts: int, config: WebhooksConfig) -> timedelta:
    """The wait after the `attempts`-th failed attempt."""
    seconds = config.backoff_seconds * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, config.max_backoff_seconds))


# --- subscriptions ---


def _subscription(row: Any) -> dict[str, Any]:
    created = from_db_time(row.created_at)
    return {"id": row.id, "url": row.url, "events": list(row.events),
            "description": row.description,
            "created_at": created.isoformat() if created else None}


def create_subscription(conn: Connection, url: str, events: Sequence[str],
                        description: str | None, now: datetime) -> dict[str, Any]:
    """A new subscription, with its secret (shown once)."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    result = conn.execute(webhook_subscriptions.insert().values(
        url=url, events=sorted(set(events)), secret=secret, description=description,
        created_at=now))
    row = conn.execute(select(webhook_subscriptions).where(
        webhook_subscriptions.c.id == result.inserted_primary_key[0])).one()  # type: ignore[index]
    return {**_subscription(row), "secret": secret}


def _live() -> Any:
    return select(webhook_subscriptions).where(webhook_subscriptions.c.deleted_at.is_(None))


def list_subscriptions(conn: Connection) -> list[dict[str, Any]]:
    return [_subscription(row) for row in conn.execute(
        _live().order_by(webhook_subscriptions.c.id))]


def get_subscription(conn: Connection, subscription_id: int) -> dict[str, Any] | None:
    row = conn.execute(_live().where(webhook_subscriptions.c.id == subscription_id)).first()
    return _subscription(row) if row else None


def delete_subscription(conn: Connection, subscription_id: int, now: datetime) -> bool:
    """Unsubscribe (the rows waiting are dropped as failed); False when there is none."""
    s = webhook_subscriptions.c
    done = conn.execute(update(webhook_subscriptions)
                        .where(s.id == subscription_id, s.deleted_at.is_(None))
                        .values(deleted_at=now)).rowcount
    o = webhook_outbox.c
    conn.execute(update(webhook_outbox)
                 .where(o.subscription_id == subscription_id, o.status == "pending")
                 .values(status="failed", next_attempt_at=None,
                         last_error="unsubscribed before delivery"))
    return bool(done)


# --- the outbox ---


def enqueue(conn: Connection, event: str, data: dict[str, Any], now: datetime) -> str | None:
    """Write the event for every subscription to it, in `conn`'s transaction; returns its
    id (the idempotency key), or None when nobody subscribed."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    subscribers = [row.id for row in conn.execute(_live()) if event in row.events]
    if not subscribers:
        return None
    event_id = "evt_" + uuid.uuid4().hex
    body = json.dumps({"id": event_id, "type": event, "created_at": now.isoformat(),
                       "data": data}, sort_keys=True, separators=(",", ":"))
    conn.execute(webhook_outbox.insert(), [
        {"subscription_id": s, "event_id": event_id, "event": event, "body": body,
         "status": "pending", "attempts": 0, "created_at": now, "next_attempt_at": now}
        for s in subscribers])
    return event_id


def _delivery(row: Any) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        found = from_db_time(value)
        return found.isoformat() if found else None

    return {"id": row.id, "event_id": row.event_id, "event": row.event, "status": row.status,
            "attempts": row.attempts, "created_at": iso(row.created_at),
            "next_attempt_at": iso(row.next_attempt_at) if row.status == "pending" else None,
            "last_attempt_at": iso(row.last_attempt_at), "last_status": row.last_status,
            "last_error": row.last_error, "delivered_at": iso(row.delivered_at)}


def deliveries(conn: Connection, subscription_id: int, status: str | None, limit: int,
               offset: int) -> tuple[list[dict[str, Any]], int]:
    """The subscription's deliveries, newest first, and how many there are."""
    o = webhook_outbox.c
    statement = select(webhook_outbox).where(o.subscription_id == subscription_id)
    if status:
        statement = statement.where(o.status == status)
    total = conn.execute(select(func.count()).select_from(statement.subquery())).scalar_one()
    rows = conn.execute(statement.order_by(o.id.desc()).limit(limit).offset(offset))
    return [_delivery(row) for row in rows], int(total)


# --- delivery ---


@dataclass(slots=True)
class Delivered:
    attempted: int = 0
    delivered: int = 0
    failed: int = 0


def _due(engine: Engine, now: datetime, lease: timedelta) -> list[Any]:
    """Lease the due rows: each one this process won (another may lease the same)."""
    o, s = webhook_outbox.c, webhook_subscriptions.c
    won = []
    with engine.begin() as conn:
        rows = conn.execute(
            select(o.id, o.event_id, o.event, o.body, o.attempts, o.next_attempt_at,
                   s.url, s.secret)
            .join(webhook_subscriptions, s.id == o.subscription_id)
            .where(o.status == "pending", o.next_attempt_at <= now)
            .order_by(o.next_attempt_at, o.id).limit(_BATCH)).all()
    for row in rows:
        with engine.begin() as conn:
            taken = conn.execute(update(webhook_outbox).where(
                o.id == row.id, o.status == "pending",
                o.next_attempt_at == row.next_attempt_at).values(
                next_attempt_at=now + lease)).rowcount
        if taken:
            won.append(row)
    return won


def private_address(url: str) -> str | None:
    """An address `url`'s host resolves to that is not on the public internet (loopback,
    private, link-local, reserved), or None; None too when it does not resolve now (the
    delivery then fails and is retried, and is checked again)."""
    host = urlsplit(url).hostname or ""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return None
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if not ip.is_global:
            return str(ip)
    return None


def _send(session: requests.Session, row: Any, now: datetime, config: WebhooksConfig
          ) -> tuple[int | None, str | None]:
    if not config.allow_private_networks and (address := private_address(row.url)):
        return None, (f"refused: the host resolves to {address}, not a public address "
                      "([webhooks] allow_private_networks)")
    timeout = config.timeout_seconds
    headers = {"Content-Type": "application/json", "User-Agent": "whoknows-webhooks/1",
               SIGNATURE_HEADER: sign(row.secret, int(now.timestamp()), row.body),
               "Whoknows-Event": row.event, "Whoknows-Delivery": str(row.id),
               "Idempotency-Key": row.event_id}
    try:
        response = session.post(row.url, data=row.body.encode(), headers=headers,
                                timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {str(exc)[:300]}"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


def deliver_due(engine: Engine, config: WebhooksConfig, now: datetime,
                session: requests.Session | None = None) -> Delivered:
    """Send every row due at `now` once; returns what happened."""
    report = Delivered()
    session = session or requests.Session()
    lease = timedelta(seconds=config.timeout_seconds * 2 + 30)
    rows = _due(engine, now, lease)
    o = webhook_outbox.c
    for row in rows:
        status, error = _send(session, row, now, config)
        attempts = row.attempts + 1
        report.attempted += 1
        values: dict[str, Any] = {"attempts": attempts, "last_attempt_at": now,
                                  "last_status": status, "last_error": error}
        if error is None:
            values |= {"status": "delivered", "delivered_at": now, "next_attempt_at": None}
            report.delivered += 1
        elif attempts >= config.max_attempts:
            values |= {"status": "failed", "next_attempt_at": None}
            report.failed += 1
        else:
            values["next_attempt_at"] = now + backoff(attempts, config)
        with engine.begin() as conn:
            conn.execute(update(webhook_outbox).where(o.id == row.id).values(**values))
    return report


def pending_count(conn: Connection) -> int:
    o = webhook_outbox.c
    return int(conn.execute(select(func.count()).where(o.status == "pending")).scalar_one())


def subscribed(conn: Connection, events: Iterable[str]) -> bool:
    """Whether any live subscription wants one of these events."""
    wanted = set(events)
    return any(wanted & set(row.events) for row in conn.execute(_live()))
