"""The RS256 key that signs the access tokens whoknows issues, and its JWKS."""

from __future__ import annotations

import os
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
    file does not exist yet."""
    if path.exists():
        return SigningKey(RSAKey.import_key(path.read_bytes()))
    key = RSAKey.generate_key(2048, private=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.as_pem(private=True))
    return SigningKey(key)
