"""The production entry point: `gunicorn 'service.api.wsgi:app'` (configuration from
`WHOKNOWS_CONFIG` and the environment, as for the CLI)."""

from __future__ import annotations

from service.api import create_app

app = create_app()
