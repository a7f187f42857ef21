# whoknows: the API (gunicorn) and the `whoknows` command (sync, migrations, reindex).
#
#   docker build -t whoknows .
#   docker run -p 8080:8080 -e WHOKNOWS_DATABASE_URL=postgresql+psycopg://... \
#       -e WHOKNOWS_SEARCH_ENGINE=elasticsearch -e WHOKNOWS_SEARCH_URL=http://search:9200 whoknows
#
# Without a registry: `make image` (podman, on a base made from Debian packages), and
# `make test-image` runs the production smoke test against the result.
#
# Two stages: wheels are built where the build tools are, the final image installs only
# the wheels (no compiler, no pip cache, no sources but the installed package).
#
# PYTHON_IMAGE is any Debian bookworm image with Python 3.11 as `python3` and its venv module:
# the public python image by default, or the one scripts/image-base makes from Debian
# packages (`make image`, for hosts without a registry). Both stages install into a venv,
# which works alike on both: Debian's own python3 refuses pip installs outside one (PEP 668).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# pip checks PyPI's certificate against the system's CAs rather than its own copy of them,
# so that a build behind a TLS-inspecting proxy can mount its host's bundle there for the
# RUN steps (`make image` does), without that bundle ending up in the image
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PATH=/opt/build/bin:$PATH \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md uv.lock ./
COPY requirements ./requirements
COPY service ./service
# the package and its production extras (PostgreSQL driver, search cluster clients), at the
# exact versions of uv.lock, hashes checked
RUN python3 -m venv /opt/build \
    && pip install --require-hashes -r requirements/uv.txt \
    && uv export --frozen --no-emit-project --no-dev --extra postgres --extra cluster \
       --output-file /tmp/locked.txt \
    && pip wheel --wheel-dir /wheels --require-hashes -r /tmp/locked.txt \
    && pip wheel --wheel-dir /wheels --no-deps . \
    && (cd /wheels && sha256sum *.whl > SHA256SUMS)

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/whoknows/bin:$PATH \
    WHOKNOWS_LOG_FORMAT=json \
    PORT=8080
# the wheels' checksums as a layer of their own: a build cache keys a RUN step on its text
# and the layers before it, not on what a --mount brings (buildah reused a stale install),
# so any change to a wheel must change a layer before the install
COPY --from=build /wheels/SHA256SUMS /opt/wheels.sha256
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python3 -m venv /opt/whoknows \
    && pip install --no-index --find-links=/wheels 'whoknows[postgres,cluster]' \
    && groupadd --system --gid 10001 whoknows \
    && useradd --system --uid 10001 --gid whoknows --home-dir /nonexistent \
       --shell /usr/sbin/nologin whoknows
# openapi.yaml is served at /openapi.yaml from next to the installed package
COPY openapi.yaml /opt/whoknows/lib/python3.11/site-packages/openapi.yaml
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8080\")}/healthz', timeout=4)"
CMD ["gunicorn", "--config=python:service.gunicorn_conf", "service.api.wsgi:app"]
