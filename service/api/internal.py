"""What the endpoints for internal clients share: the guard that turns away an external
or partner client (a 403 that names nothing of the data), and JSON bodies validated with
marshmallow (a 400 naming each bad field)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError

from service.api.errors import ApiError
from service.api.oauth import current_caller, require_oauth
from service.model import Audience

__all__ = ["internal_only", "load_body"]

View = Callable[..., ResponseReturnValue]


def internal_only(scope: str, what: str) -> Callable[[View], View]:
    """Require `scope` and a client of the internal audience (else a 403 saying `what`
    needs one)."""

    def decorate(view: View) -> View:
        @require_oauth(scope)
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            if current_caller().audience != Audience.INTERNAL:
                raise ApiError(403, f"{what} needs a client of the internal audience")
            return view(*args, **kwargs)

        return checked

    return decorate


def load_body(schema: Schema) -> dict[str, Any]:
    """Validate the JSON body; a body that is not a JSON object, or a bad field, is a 400
    naming it."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", errors={"body": ["must be a "
                                                                               "JSON object"]})
    try:
        return schema.load(body)  # type: ignore[no-any-return]
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"body": exc.messages}
        errors = {str(k): [str(m) for m in (v if isinstance(v, list) else [v])]
                  for k, v in messages.items()}
        raise ApiError(400, "invalid body: " + "; ".join(
            f"{name}: {' '.join(found)}" for name, found in errors.items()),
            errors=errors) from exc
