# The two commands README.md gives: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# Every install takes the exact versions of uv.lock (hashes checked); uv itself is pinned in
# requirements/uv.txt. `make lock` refreshes both to the newest the bounds allow.
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
SYNC := $(BIN)/uv sync --frozen --inexact --quiet

# The container image (`make image`, `make test-image`), built on a base made from Debian
# packages: no image registry needed. podman reads the settings scripts/image-prereqs found
# this host needs, if it needed any (expanded when a recipe runs, after image-prereqs).
IMAGE ?= localhost/whoknows:latest
IMAGE_BASE ?= localhost/whoknows-base:bookworm
CONTAINERS_CONF_FILE := var/containers.conf
CONTAINERS_ENV = $(if $(wildcard $(CONTAINERS_CONF_FILE)),CONTAINERS_CONF=$(abspath $(CONTAINERS_CONF_FILE)) )
PODMAN = $(CONTAINERS_ENV)podman

.PHONY: run test test-latest lock venv test-venv image image-prereqs test-image lint bench bench-api bench-page bench-insight bench-connectors bench-jobs clean

$(BIN)/uv:
	@echo "creating $(VENV) and installing uv (requirements/uv.txt)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements/uv.txt

# uv prints nothing with --quiet (without it, a line per package): say what the wait is
WAIT = about 20 s the first time (downloads), a second after that

venv: $(BIN)/uv
	@echo "installing whoknows and its locked dependencies (uv.lock): $(WAIT)"
	$(SYNC)

test-venv: $(BIN)/uv
	@echo "installing whoknows, its locked dependencies and the test extras (uv.lock): $(WAIT)"
	$(SYNC) --extra test

run: venv
	@echo "loading the demo company into var/whoknows.db, then serving on http://127.0.0.1:8080"
	$(BIN)/whoknows demo --serve 8080

# WITH_IMAGE=1: the container image's smoke test too (make test-image, a few minutes cold).
# pytest-xdist runs the suite on every core (-n auto): each worker has its own fixtures,
# servers on free ports, PostgreSQL schemas and Redis queues, so tests share nothing.
test: test-venv $(if $(WITH_IMAGE),test-image)
	scripts/test-prereqs
	$(BIN)/python -m pytest -n auto

image-prereqs:
	scripts/image-prereqs $(IMAGE_BASE) $(CONTAINERS_CONF_FILE)

# The host's CA bundle is mounted for the RUN steps only, so that pip reaches PyPI through
# whatever TLS proxy the host trusts, without the bundle ending up in the image.
image: image-prereqs
	$(PODMAN) build --network=host --format=docker --build-arg=PYTHON_IMAGE=$(IMAGE_BASE) \
	    --volume=/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
	    --tag=$(IMAGE) .

# the production smoke test with the image's entry point and CLI (tests/deploy/image.py)
test-image: image test-venv
	scripts/test-prereqs
	WHOKNOWS_IMAGE=$(IMAGE) $(CONTAINERS_ENV)$(BIN)/python -m pytest \
	    tests/deploy/test_production.py::test_the_container_entry_point_serves_searches_metrics_and_json_logs

# the newest releases the bounds of pyproject.toml allow, in a venv of its own, ignoring the lock
test-latest: $(BIN)/uv
	$(PYTHON) -m venv .venv-latest
	$(BIN)/uv pip install --quiet --python .venv-latest/bin/python --upgrade -e '.[test]'
	scripts/test-prereqs
	.venv-latest/bin/python -m pytest

lock: $(BIN)/uv
	$(BIN)/uv lock --upgrade
	echo "uv" | $(BIN)/uv pip compile - --universal --generate-hashes --upgrade \
	    --python-version 3.11 --quiet -o requirements/uv.txt

lint: test-venv
	$(BIN)/ruff check service tests bench
	$(BIN)/mypy service --ignore-missing-imports

bench: venv
	test -f bench/out/data/queries.txt || $(BIN)/python bench/generate.py bench/out/data
	$(BIN)/python bench/run.py bench/out/data --db bench/out/bench.db

bench-page: test-venv
	$(BIN)/python bench/page_load.py --n 30

bench-insight: venv
	test -f bench/out/insight.db || cp bench/out/bench.db bench/out/insight.db
	$(BIN)/python bench/insight.py --db bench/out/insight.db

bench-api: venv
	$(BIN)/python bench/api_load.py --workers 2 --threads 1

bench-connectors: venv
	$(BIN)/python bench/connectors.py $(if $(PERCEVAL_PYTHON),--perceval-python $(PERCEVAL_PYTHON))

# sync throughput with 1 and 2 workers on two sources (needs Redis at 127.0.0.1:6379)
bench-jobs: venv
	cd bench && ../$(BIN)/python sync_jobs.py

clean:
	rm -rf $(VENV) .venv-latest var
