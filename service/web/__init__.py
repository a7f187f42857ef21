"""The intranet "who knows what" page: server-rendered search, profiles and the connection
map, served by the API's Flask app at `/` (internal view), behind OpenID Connect sign-in
when configured."""

from __future__ import annotations

from flask import Flask

from service import pipeline
from service.web.auth import init_auth
from service.web.views import web

__all__ = ["init_web"]


def init_web(app: Flask, services: pipeline.Services) -> None:
    """Register the page and its sign-in on the app; raise ConfigError when `[web]` names
    a session key variable that is not set."""
    from service.web import customers  # noqa: F401 - its pages join the blueprint

    init_auth(app, services.config.web, services.config.web_secrets)
    # routes on `web`: the review, my profile, its e-mailed claim links
    from service.web import claim_link, me, review  # noqa: F401

    app.register_blueprint(web)
