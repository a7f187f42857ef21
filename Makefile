# The two commands README.md gives: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# Every install takes the exact versions of uv.lock (hashes checked); uv itself is pinned in
# requirements/uv.txt. `make lock` refreshes both to the newest the bounds allow.
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
SYNC := $(BIN)/uv sync --frozen --inexact --quiet

.PHONY: run test test-latest lock venv test-venv lint bench bench-api bench-page bench-insight bench-connectors clean

$(BIN)/uv:
	@echo "creating $(VENV) and installing uv (requirements/uv.txt)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements/uv.txt

venv: $(BIN)/uv
	@echo "installing the locked dependencies (uv.lock)"
	$(SYNC)

test-venv: $(BIN)/uv
	@echo "installing the locked dependencies with the test extras (uv.lock)"
	$(SYNC) --extra test

run: venv
	$(BIN)/whoknows demo --serve 8080

test: test-venv
	scripts/test-prereqs
	$(BIN)/python -m pytest

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

clean:
	rm -rf $(VENV) .venv-latest var
