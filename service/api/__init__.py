"""The HTTP API: a Flask app factory, one blueprint per resource, problem+json errors."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, current_app

from service import ops, pipeline
from service.api import errors
from service.api.keys import load_signing_key
from service.api.limits import init_limits
from service.api.oauth import init_oauth
from service.config import load_config

__all__ = ["create_app", "current_services", "services_of"]

MAX_ID = 2**31 - 1  # ids are INTEGER columns: a larger one names nothing


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Return the API app.

    `test_config` may carry `SERVICES` (an opened `pipeline.Services`) or `WHOKNOWS_CONFIG`
    (a configuration file path); otherwise the configuration is read as the CLI reads it.
    """
    app = Flask(__name__)
    # 1,000 records of a few KB each fit well under this; more is a 413
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    app.config.update(test_config or {})
    services = app.config.get("SERVICES")
    if services is None:
        services = pipeline.open_services(load_config(app.config.get("WHOKNOWS_CONFIG")))
    app.extensions["whoknows"] = services
    services.serving = True  # requests never wait for a long insight computation
    if hops := services.config.api.trusted_proxies:  # the client's address behind an ingress
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    @app.url_value_preprocessor
    def _ids_in_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
        """A path id beyond the id columns' range is a 404, not an overflow in the driver."""
        if values and any(isinstance(v, int) and v > MAX_ID for v in values.values()):
            abort(404)

    errors.init_app(app)
    from service.jobs.dispatch import open_queue

    # sync jobs: to the workers on Redis, or (embedded) to a thread of this process
    app.extensions["whoknows_jobs"] = app.config.get("JOB_QUEUE") or open_queue(services)
    ops.init_app(app, services.engine,  # request ids, JSON request log, /metrics
                 services.config.api.metrics_counts_seconds)
    init_limits(app, services.config.api, services.config.limits)
    key = app.config.get("SIGNING_KEY") or load_signing_key(
        services.config.resolve_path(services.config.api.signing_key_file))
    app.extensions["whoknows_signing_key"] = key
    app.extensions["whoknows_oauth_server"] = init_oauth(
        app, services.config.api, key, services.engine)

    from service.api.admin import admin
    from service.api.contributions import contributions
    from service.api.experts import experts
    from service.api.health import health
    from service.api.identity import identity
    from service.api.insight import insight
    from service.api.organisations import organisations
    from service.api.people import people
    from service.api.questions import questions
    from service.api.subscriptions import subscriptions
    from service.api.tokens import tokens
    from service.api.topics import topics
    from service.api.webhooks import webhooks

    app.register_blueprint(health)
    app.register_blueprint(tokens)
    for blueprint in (experts, people, topics, insight, contributions, admin, webhooks,
                      identity):
        app.register_blueprint(blueprint, url_prefix="/v1")
    for blueprint in (organisations, questions, subscriptions):  # issue 17
        app.register_blueprint(blueprint, url_prefix="/v1")
    from service.api.badges import badges  # public, no token: badges, the embeddable card
    from service.api.embed import embed

    for public in (badges, embed):
        app.register_blueprint(public, url_prefix="/v1")
    from service.web import init_web

    init_web(app, services)  # the intranet page at /, its sign-in at /signin
    return app


def services_of(app: Flask) -> pipeline.Services:
    """The pipeline services the app was created with."""
    return app.extensions["whoknows"]  # type: ignore[no-any-return]


def current_services() -> pipeline.Services:
    """The pipeline services of the app handling the current request."""
    return services_of(current_app)  # type: ignore[arg-type]
