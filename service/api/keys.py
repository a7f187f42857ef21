"""The RS256 key that signs the access tokens whoknows issues, and its JWKS."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from joserfc.jwk import RSAKey

__all__ = ["SigningKey", "load_signing_key"]


class SigningKey:
    def __init__(self, key: RSAKey) -> None:
        self.key = key
        self.kid = key.thumbprint()

    def private_jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=True, kid=self.kid, alg="RS256", use="sig")]}

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False, kid=self.kid, alg="RS256", use="sig")]}


def load_signing_key(path: Path) -> SigningKey:
    """Read the PEM private key at `path`, creating a 2048-bit one (mode 0600) when the
    file does not exist yet.

    Several processes may start at once with no key (gunicorn's workers, replicas on one
    volume): each writes its key to a temporary file beside `path` and links it to `path`,
    which only the first link does; the others read the winner's key. `path` is therefore
    never seen half-written, and every process signs with the same key."""
    if path.exists():
        return SigningKey(RSAKey.import_key(path.read_bytes()))
    key = RSAKey.generate_key(2048, private=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:  # mkstemp makes it 0600
            handle.write(key.as_pem(private=True))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # fails when another process linked its key first
        except FileExistsError:
            return SigningKey(RSAKey.import_key(path.read_bytes()))
    finally:
        os.unlink(temporary)
    return SigningKey(key)
