"""OAuth2 clients: created with a secret shown once, stored as a salted scrypt hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from service.store.schema import api_clients

__all__ = ["ApiClient", "create_client", "get_client", "list_clients", "revoke_client",
           "verify_secret"]


@dataclass(frozen=True, slots=True)
class ApiClient:
    client_id: str
    name: str
    scopes: tuple[str, ...]
    audience: str
    secret_hash: str
    revoked: bool


def _hash(secret: str, salt: bytes) -> str:
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_secret(client: ApiClient, secret: str) -> bool:
    """Whether `secret` is the client's secret (constant-time)."""
    _, salt, _ = client.secret_hash.split("$")
    return hmac.compare_digest(_hash(secret, bytes.fromhex(salt)), client.secret_hash)


def create_client(conn: Connection, name: str, scopes: list[str], audience: str
                  ) -> tuple[str, str]:
    """Create a client; return (client_id, secret). The secret is not stored."""
    client_id = "wk_" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    conn.execute(api_clients.insert().values(
        client_id=client_id, secret_hash=_hash(secret, secrets.token_bytes(16)), name=name,
        scopes=" ".join(sorted(set(scopes))), audience=audience, created_at=datetime.now(UTC)))
    return client_id, secret


def _client(row: object) -> ApiClient:
    return ApiClient(row.client_id, row.name, tuple(row.scopes.split()),  # type: ignore[attr-defined]
                     row.audience, row.secret_hash, row.revoked_at is not None)  # type: ignore[attr-defined]


def get_client(conn: Connection, client_id: str) -> ApiClient | None:
    row = conn.execute(select(api_clients).where(api_clients.c.client_id == client_id)).first()
    return None if row is None else _client(row)


def list_clients(conn: Connection) -> list[ApiClient]:
    return [_client(row) for row in conn.execute(
        select(api_clients).order_by(api_clients.c.created_at))]


def revoke_client(conn: Connection, client_id: str) -> bool:
    """Revoke a client (the API refuses its tokens within `api.revocation_check_seconds`,
    `service.api.oauth`); False if unknown."""
    result = conn.execute(update(api_clients).where(
        api_clients.c.client_id == client_id, api_clients.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC)))
    return bool(result.rowcount)
