"""The token endpoint and the JWKS of the built-in authorization server."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

__all__ = ["tokens"]

tokens = Blueprint("tokens", __name__)


@tokens.post("/oauth/token")
def issue_token() -> ResponseReturnValue:
    """Client credentials grant: a short-lived RS256 JWT access token."""
    server = current_app.extensions["whoknows_oauth_server"]
    return server.create_token_response()  # type: ignore[no-any-return]


@tokens.get("/.well-known/jwks.json")
def jwks() -> ResponseReturnValue:
    """The public keys that verify our access tokens."""
    return jsonify(current_app.extensions["whoknows_signing_key"].public_jwks())
